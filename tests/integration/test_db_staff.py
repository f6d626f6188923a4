"""The SQL side of logins: credentials, the audit log, skills and queue switches."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.staff import SqlStaffDirectory
from contactcore.core.auth import AuditEntry
from contactcore.errors import NotFound
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_credentials_expire_and_revoke(db: Database) -> None:
    clock = ManualClock(1000.0)
    staff = SqlStaffDirectory(db.engine, clock)
    agent = await db.agents.create("Ann", "ann", capacities={"voice": 1})
    await staff.add_credential("a" * 64, "session", agent.id, "c" * 64, 2000.0)
    found = await staff.credential("a" * 64, "session", 1500.0)
    assert found is not None
    assert (found.member.username, found.csrf_hash, found.kind) == ("ann", "c" * 64, "session")
    assert await staff.credential("a" * 64, "token", 1500.0) is None  # kinds do not mix
    assert await staff.credential("a" * 64, "session", 2000.0) is None  # expired
    assert await staff.revoke("a" * 64)
    assert await staff.credential("a" * 64, "session", 1500.0) is None
    assert not await staff.revoke("a" * 64)


async def test_audit_entries_come_back_newest_first(db: Database) -> None:
    staff = SqlStaffDirectory(db.engine)
    for n in range(3):
        await staff.record(
            AuditEntry(
                "ag_1",
                "supervisor",
                "queue.open",
                f"q{n}",
                {"open": True},
                {"open": False},
                float(n),
            )
        )
    entries = await staff.recent(2)
    assert [e.target for e in entries] == ["q2", "q1"]
    assert entries[0].before == {"open": True}


async def test_skills_and_capacities_change_together_or_not_at_all(db: Database) -> None:
    staff = SqlStaffDirectory(db.engine)
    await db.skills.ensure("english")
    agent = await db.agents.create("Ann", "ann", capacities={"voice": 1}, skills={"english": 3})
    with pytest.raises(NotFound):
        await staff.set_skills(agent.id, {"klingon": 5}, {"voice": 0})
    same = await staff.member(agent.id)
    assert same is not None
    assert (same.skills, same.capacities) == ({"english": 3}, {"voice": 1})
    changed = await staff.set_skills(agent.id, {"english": 7}, {"voice": 1, "chat": 2})
    assert (changed.skills, changed.capacities) == ({"english": 7}, {"voice": 1, "chat": 2})
    with pytest.raises(NotFound):
        await staff.set_skills("ag_nobody", {}, None)


async def test_queue_switch_is_kept(db: Database) -> None:
    staff = SqlStaffDirectory(db.engine)
    await db.queues.create("general", config={})
    await staff.set_queue_open("general", False)
    record = await db.queues.get_by_name("general")
    assert record is not None
    assert record.open is False
    with pytest.raises(NotFound):
        await staff.set_queue_open("nowhere", True)
