"""``contactcore db upgrade|current|downgrade REV``: the database schema."""

from __future__ import annotations

import argparse
import asyncio
import logging

from contactcore.adapters.db import current, downgrade, head_revision, mask_url, upgrade
from contactcore.cli._common import settings_from


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database schema migrations")
    cmds = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = cmds.add_parser("upgrade", help="apply pending migrations (to head by default)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_upgrade)
    cur = cmds.add_parser("current", help="show the database's schema revision")
    cur.set_defaults(handler=_current)
    down = cmds.add_parser("downgrade", help="revert migrations down to REV ('base' = empty)")
    down.add_argument("revision", metavar="REV")
    down.set_defaults(handler=_downgrade)


def _quiet_alembic(args: argparse.Namespace) -> None:
    # Alembic narrates at INFO; the command prints its own one-line summary.
    if not getattr(args, "verbose", False):
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _upgrade(args: argparse.Namespace) -> int:
    _quiet_alembic(args)
    url = settings_from(args).database.url
    applied = asyncio.run(upgrade(url, args.revision))
    if applied:
        print(f"{mask_url(url)}: applied {', '.join(applied)}; now at {applied[-1]}")
    else:
        print(f"{mask_url(url)}: already up to date at {asyncio.run(current(url))}")
    return 0


def _current(args: argparse.Namespace) -> int:
    _quiet_alembic(args)
    url = settings_from(args).database.url
    rev = asyncio.run(current(url))
    head = head_revision()
    state = "up to date" if rev == head else f"behind head {head}: run `contactcore db upgrade`"
    print(f"{mask_url(url)}: {rev or 'empty (no schema)'} ({state})")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    _quiet_alembic(args)
    url = settings_from(args).database.url
    reverted = asyncio.run(downgrade(url, args.revision))
    if reverted:
        print(f"{mask_url(url)}: reverted {', '.join(reverted)}; now at {args.revision}")
    else:
        print(f"{mask_url(url)}: nothing to revert")
    return 0
