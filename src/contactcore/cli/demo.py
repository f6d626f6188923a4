"""``contactcore demo seed``: load the demo queues, skills, agents and customers."""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import date

from contactcore.adapters.db import Database, mask_url, open_database, require_head
from contactcore.adapters.db.demo import AGENTS, CUSTOMERS, DEMO_REGION, QUEUES, seed_demo
from contactcore.cli._common import settings_from
from contactcore.settings import WfmSettings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="demo data")
    cmds = p.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    seed = cmds.add_parser("seed", help="load the demo data (idempotent; run `db upgrade` first)")
    seed.set_defaults(handler=_seed)


async def _run(url: str, wfm: WfmSettings) -> str:
    await require_head(url)
    db = await open_database(url)
    try:
        report = await seed_demo(db)
        planning = await _seed_planning_history(db, wfm)
    finally:
        await db.close()
    created = ", ".join(f"{n} {k}" for k, n in report.created.items()) or "nothing"
    updated = ", ".join(f"{n} {k}" for k, n in report.updated.items()) or "nothing"
    return f"created {created}; updated {updated}; {planning} planning intervals of history"


async def _seed_planning_history(db: Database, wfm: WfmSettings) -> int:
    """Eight weeks of generated interval statistics per demo queue, for wfm forecasts."""
    from contactcore.adapters.db.wfm_store import SqlIntervalStore
    from contactcore.wfm.service import seed_demo_history

    # Statistics are kept by queue name, the id routing and the call flows use too.
    names = [name for name in QUEUES if await db.queues.get_by_name(name) is not None]
    return await seed_demo_history(
        SqlIntervalStore(db.engine),
        names,
        date.today(),
        interval_seconds=wfm.interval_seconds,
        country=wfm.country or None,
    )


def _seed(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", False):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    url = settings_from(args).database.url
    summary = asyncio.run(_run(url, settings_from(args).wfm))
    print(f"demo seed into {mask_url(url)}: {summary}")
    print(f"queues: {', '.join(QUEUES)} (dial 100 for general)")
    print("agents (desktop username / password, SIP endpoint):")
    for a in AGENTS:
        phone = (
            f"PJSIP {a.sip_endpoint}, SIP password pw-{a.sip_endpoint}"
            if a.sip_endpoint
            else "no phone"
        )
        print(f"  {a.username:<11} {a.password:<16} {a.role:<10} {a.name} ({phone})")
    print(f"customers (account / PIN, tier, phones; region {DEMO_REGION}):")
    for c in CUSTOMERS:
        print(f"  {c.account_number} / {c.pin}  {c.tier:<3} {c.name:<14} {', '.join(c.phones)}")
    return 0
