"""Routing configuration and durable routing state, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.records import TaskRecord
from contactcore.errors import Conflict, InvalidInput, NotFound

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_skills_and_queues_round_trip(db: Database) -> None:
    billing = await db.skills.create("billing")
    assert await db.skills.ensure("billing") == billing
    german = await db.skills.ensure("german")
    assert [s.name for s in await db.skills.list()] == ["billing", "german"]
    assert german.id.startswith("sk_")
    with pytest.raises(Conflict):
        await db.skills.create("billing")

    config = {
        "relaxation": [{"after_seconds": 0, "min_level": 7}, {"after_seconds": 30}],
        "service_level": {"percent": 80, "seconds": 20},
        "overflow": None,
        "ratio": 0.5,
    }
    q = await db.queues.create("billing", timezone="Europe/London", config=config)
    assert await db.queues.get(q.id) == q
    assert (await db.queues.get_by_name("billing")) == q
    assert q.config == config
    closed = await db.queues.update(q.id, open=False)
    assert (closed.open, closed.config) == (False, config)
    changed = await db.queues.update(q.id, config={"wrap_up_seconds": 10}, timezone="UTC")
    assert (changed.config, changed.timezone) == ({"wrap_up_seconds": 10}, "UTC")
    with pytest.raises(Conflict):
        await db.queues.create("billing")
    with pytest.raises(NotFound):
        await db.queues.update("q_missing", open=True)


async def test_agents_with_skills(db: Database) -> None:
    for name in ("billing", "english", "german"):
        await db.skills.ensure(name)
    a = await db.agents.create(
        "Alice Morgan",
        "agent1001",
        sip_endpoint="agent1001",
        capacities={"voice": 1, "chat": 3, "email": 2},
        skills={"billing": 9, "english": 8},
        password_hash="$argon2id$fake",
    )
    assert a.skills == {"billing": 9, "english": 8}
    assert a.role == "agent"
    assert await db.agents.get(a.id) == a
    assert await db.agents.get_by_endpoint("agent1001") == a
    assert await db.agents.get_by_username("agent1001") == a
    assert await db.agents.credentials("agent1001") == (a, "$argon2id$fake")
    assert await db.agents.credentials("nobody") is None

    b = await db.agents.set_skills(a.id, {"german": 5})
    assert b.skills == {"german": 5}
    c = await db.agents.update(a.id, capacities={"voice": 1, "chat": 0}, role="supervisor")
    assert (c.capacities, c.role, c.skills) == ({"voice": 1, "chat": 0}, "supervisor", b.skills)
    assert [x.username for x in await db.agents.list()] == ["agent1001"]

    with pytest.raises(Conflict):
        await db.agents.create("Imposter", "agent1001")
    with pytest.raises(Conflict):
        await db.agents.create("Imposter", "imposter", sip_endpoint="agent1001")
    with pytest.raises(InvalidInput, match="between 1 and 10"):
        await db.agents.create("Ben", "agent1002", skills={"billing": 11})
    with pytest.raises(InvalidInput, match="role"):
        await db.agents.create("Ben", "agent1002", role="boss")
    with pytest.raises(NotFound, match="sorcery"):
        await db.agents.create("Ben", "agent1002", skills={"sorcery": 3})
    # The refused creates wrote nothing.
    assert await db.agents.get_by_username("agent1002") is None


async def test_agent_sessions(db: Database) -> None:
    a = await db.agents.create("A", "a")
    b = await db.agents.create("B", "b")
    await db.sessions.upsert(a.id, "available", updated_at=10.0)
    await db.sessions.upsert(b.id, "not_ready", reason="lunch", updated_at=11.0)
    await db.sessions.upsert(a.id, "not_ready", reason="no-answer", updated_at=12.0)
    sessions = {s.agent_id: s for s in await db.sessions.list()}
    assert (sessions[a.id].presence, sessions[a.id].reason, sessions[a.id].updated_at) == (
        "not_ready",
        "no-answer",
        12.0,
    )
    assert sessions[b.id].reason == "lunch"
    assert await db.sessions.delete(b.id)
    assert not await db.sessions.delete(b.id)
    assert [s.agent_id for s in await db.sessions.list()] == [a.id]
    # Foreign keys hold on SQLite too: no session for an unknown agent.
    with pytest.raises(Conflict):
        await db.sessions.upsert("ag_missing", "available")


async def test_open_tasks_survive_and_list_in_order(db: Database) -> None:
    t1 = TaskRecord(
        id="tk_1",
        channel="email",
        queue_id="q_a",
        priority=1,
        state="queued",
        enqueued_at=100.0,
        updated_at=100.0,
        deadline=3700.0,
        customer_id="cu_1",
        data={"subject": "Refund", "skills": {"billing": 4}},
    )
    t2 = TaskRecord("tk_2", "chat", "q_a", 5, "queued", 50.0, 50.0)
    t3 = TaskRecord("tk_3", "voice", "q_b", 0, "offered", 10.0, 10.0)
    for t in (t1, t2, t3):
        await db.tasks.upsert(t)
    assert await db.tasks.get("tk_1") == t1
    assert [t.id for t in await db.tasks.list()] == ["tk_3", "tk_2", "tk_1"]
    assert [t.id for t in await db.tasks.list("q_a")] == ["tk_2", "tk_1"]
    moved = TaskRecord("tk_1", "email", "q_b", 9, "assigned", 100.0, 150.0, data={"x": 1})
    await db.tasks.upsert(moved)
    assert await db.tasks.get("tk_1") == moved
    assert await db.tasks.delete("tk_1")
    assert not await db.tasks.delete("tk_1")
    assert await db.tasks.get("tk_1") is None


async def test_tasks_in_bulk(db: Database) -> None:
    batch = [
        TaskRecord(f"tk_{i:04d}", "chat", f"q_{i % 3}", i % 5, "queued", float(i), float(i))
        for i in range(400)
    ]
    await db.tasks.upsert_many(batch)
    await db.tasks.upsert_many([TaskRecord("tk_0000", "chat", "q_9", 7, "offered", 0.0, 1.0)])
    await db.tasks.upsert_many([])
    listed = await db.tasks.list()
    assert len(listed) == 400
    assert listed[0] == TaskRecord("tk_0000", "chat", "q_9", 7, "offered", 0.0, 1.0)
    assert listed[1:] == batch[1:]
    assert await db.tasks.delete_many([t.id for t in batch[:100]]) == 100
    assert len(await db.tasks.list()) == 300


async def test_one_open_callback_per_number_and_queue(db: Database) -> None:
    first, created = await db.callbacks.request(
        "+447700900001", "q_a", "tk_1", window_start=100.0, data={"ewt": 300}
    )
    assert created
    assert (first.state, first.attempts) == ("pending", 0)
    again, created = await db.callbacks.request(
        "+447700900001", "q_a", "tk_other", window_start=200.0, window_end=900.0
    )
    assert not created
    assert (again.id, again.task_id, again.requested_at) == (
        first.id,
        "tk_1",
        first.requested_at,
    )
    assert (again.window_start, again.window_end) == (200.0, 900.0)
    other_queue, created = await db.callbacks.request("+447700900001", "q_b", "tk_2", 50.0)
    assert created
    assert [c.id for c in await db.callbacks.list_pending()] == [other_queue.id, first.id]
    assert [c.id for c in await db.callbacks.list_pending("q_a")] == [first.id]
    assert [c.id for c in await db.callbacks.list_pending(due_by=100.0)] == [other_queue.id]
    assert len(await db.callbacks.list_pending(due_by=200.0)) == 2

    tried = await db.callbacks.record_attempt(first.id, "pending", "no-answer")
    tried = await db.callbacks.record_attempt(first.id, "failed", "busy")
    assert (tried.attempts, tried.state, tried.last_reason) == (2, "failed", "busy")
    assert await db.callbacks.get(first.id) == tried
    assert [c.id for c in await db.callbacks.list_pending("q_a")] == []
    # Once closed, a new request is a new callback.
    fresh, created = await db.callbacks.request("+447700900001", "q_a", "tk_3", 300.0)
    assert created
    assert fresh.id != first.id
    # Re-opening the failed one would make two open callbacks: refused.
    with pytest.raises(Conflict):
        await db.callbacks.set_state(first.id, "pending")
    with pytest.raises(NotFound):
        await db.callbacks.set_state("cb_missing", "done")


async def test_concurrent_callback_requests_make_one(database_url: str, db: Database) -> None:
    other = await open_database(database_url)
    try:
        results = await asyncio.gather(
            *(
                (db if i % 2 else other).callbacks.request(
                    "+447700900009", "q_a", f"tk_{i}", float(i)
                )
                for i in range(12)
            )
        )
    finally:
        await other.close()
    assert sum(created for _, created in results) == 1
    assert len({record.id for record, _ in results}) == 1
    assert len(await db.callbacks.list_pending("q_a")) == 1


async def test_callback_updates_lookup_by_task_and_one_claim_wins(db: Database) -> None:
    made, _ = await db.callbacks.request("+12025550143", "billing", "tk_cb", 100.0)
    assert await db.callbacks.get_by_task("tk_cb") == made
    queued = await db.callbacks.update(made.id, {"state": "queued", "data": {"n": 1}})
    assert (queued.state, queued.data) == ("queued", {"n": 1})
    with pytest.raises(ValueError, match="number"):
        await db.callbacks.update(made.id, {"number": "+12025550144"})
    # two processes race for one offer: exactly one moves it on
    results = await asyncio.gather(
        *(db.callbacks.claim(made.id, "queued", {"state": "dialling"}) for _ in range(4))
    )
    won = [r for r in results if r is not None]
    assert len(won) == 1
    assert won[0].state == "dialling"
    assert await db.callbacks.claim(made.id, "queued", {"state": "dialling"}) is None
    closed = await db.callbacks.update(made.id, {"state": "done", "attempts": 1})
    assert closed.attempts == 1
    assert await db.callbacks.get_by_task("tk_cb") is None, "only open callbacks"
