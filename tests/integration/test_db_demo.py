"""The demo data set loads, is what the other parts expect, and reloads idempotently."""

from __future__ import annotations

import pytest

from contactcore.adapters.db import open_database, upgrade
from contactcore.adapters.db.demo import AGENTS, CUSTOMERS, QUEUES, seed_demo
from contactcore.adapters.db.hashing import verify_secret
from contactcore.cli import main

pytestmark = pytest.mark.integration


async def test_seed_twice_changes_nothing_and_repairs(database_url: str) -> None:
    await upgrade(database_url)
    db = await open_database(database_url)
    try:
        first = await seed_demo(db)
        assert first.created == {
            "skills": 5,
            "queues": len(QUEUES),
            "agents": len(AGENTS),
            "customers": len(CUSTOMERS),
        }
        snapshot = (
            await db.agents.list(),
            await db.queues.list(),
            [await db.customers.find_by_account(c.account_number) for c in CUSTOMERS],
        )
        second = await seed_demo(db)
        assert not second.changed
        assert snapshot == (
            await db.agents.list(),
            await db.queues.list(),
            [await db.customers.find_by_account(c.account_number) for c in CUSTOMERS],
        )

        # What the rest of the platform relies on.
        general = await db.queues.get_by_name("general")
        assert general is not None
        assert general.config["entry_numbers"] == ["100"]
        assert general.config["service_level"] == {"percent": 80, "seconds": 20}
        a1 = await db.agents.get_by_endpoint("agent1001")
        assert a1 is not None
        assert a1.skills["billing"] == 9
        found = await db.agents.credentials("agent1001")
        assert found is not None
        assert found[1] is not None
        assert verify_secret(found[1], "demo-agent1001")
        sup = await db.agents.credentials("supervisor")
        assert sup is not None
        assert sup[0].role == "supervisor"
        assert sup[1] is not None
        assert verify_secret(sup[1], "demo-supervisor")
        vip = await db.customers.find_by_phone("+12025550101")
        assert vip is not None
        assert vip.tier == "vip"
        pin = await db.customers.pin_hash(vip.id)
        assert pin is not None
        assert verify_secret(pin, "2468")

        # Someone edited demo rows: seeding puts them back in place (same ids).
        await db.customers.update(vip.id, name="Changed", tier="b")
        await db.agents.set_skills(a1.id, {})
        await db.queues.update(general.id, open=False)
        third = await seed_demo(db)
        assert third.updated == {"queues": 1, "agents": 1, "customers": 1}
        repaired = await db.customers.find_by_phone("+12025550101")
        assert repaired == vip
        assert await db.agents.get(a1.id) == a1
        assert await db.queues.get(general.id) == general
    finally:
        await db.close()


def test_cli_demo_seed_prints_credentials(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("CONTACTCORE_CONFIG", raising=False)
    assert main(["demo", "seed"]) == 1
    assert "run `contactcore db upgrade` first" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    out = capsys.readouterr().out
    assert "created 5 skills, 4 queues, 8 agents, 5 customers" in out
    assert "10000001 / 2468" in out
    assert "demo-agent1001" in out
    assert main(["demo", "seed"]) == 0
    assert "created nothing; updated nothing" in capsys.readouterr().out
