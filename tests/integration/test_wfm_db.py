"""Interval statistics and interaction history in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import pytest

from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.wfm_store import SqlHistory, SqlIntervalStore
from contactcore.core.events import DomainEvent
from contactcore.core.wfm import HistorySource, InteractionSummary, IntervalStore
from contactcore.wfm.generator import DemoQueue, generate
from contactcore.wfm.intervals import compute
from contactcore.wfm.memory import MemoryHistory, MemoryIntervalStore
from contactcore.wfm.service import WfmConfig, WfmService
from contactcore.wfm.staffing import StaffingTargets

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0 - (1_800_000_000.0 % 900)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_store_replace_add_load(db: Database) -> None:
    store: IntervalStore = SqlIntervalStore(db.engine)
    items = generate([DemoQueue("q_a", daily_volume=600)], date(2026, 3, 2), 2, seed=3)
    rows = compute(items, 900, 20)
    start, end = rows[0].start, rows[-1].start + 900
    await store.replace(start, end, rows)
    got = await store.load("q_a", start, end)
    assert got == sorted(rows, key=lambda r: r.start)
    assert await store.queues() == [("q_a", "voice")]
    # increments add up, concurrently, and equal the in-memory store's result
    memory = MemoryIntervalStore()
    await memory.replace(start, end, rows)
    extra = compute(items[:50], 900, 20)
    await asyncio.gather(*(store.add([r]) for r in extra))
    await memory.add(extra)
    assert await store.load("q_a", start, end) == await memory.load("q_a", start, end)
    # replace only touches its queue and range
    await store.replace(start, start + 900, [], "other")
    assert len(await store.load("q_a", start, end)) == len(rows)
    await store.replace(start, end, [], "q_a")
    assert await store.load("q_a", start, end) == []


async def _record(db: Database) -> None:
    r = db.interactions
    # answered call: queued at +10, answered +25, hold 20 s, wrap-up 30 s, ended +200
    await r.start("ix_1", "voice", T0)
    for e in [
        DomainEvent(
            type="queue.entered", at=T0 + 10, interaction_id="ix_1", queue_id="q_1", task_id="tk_1"
        ),
        DomainEvent(type="agent.answered", at=T0 + 25, interaction_id="ix_1"),
        DomainEvent(type="hold.started", at=T0 + 60, interaction_id="ix_1"),
        DomainEvent(type="hold.ended", at=T0 + 80, interaction_id="ix_1"),
        # the routing engine's wrap-up events know the task, not the interaction
        DomainEvent(type="agent.wrapup_started", at=T0 + 170, task_id="tk_1", agent_id="a1"),
        DomainEvent(type="agent.wrapup_ended", at=T0 + 200, task_id="tk_1", agent_id="a1"),
    ]:
        await r.add_event(e)
    await r.finish("ix_1", T0 + 170, "completed")
    # abandoned call: queued at +100, hung up at +160
    await r.start("ix_2", "voice", T0 + 90)
    await r.add_event(
        DomainEvent(type="queue.entered", at=T0 + 100, interaction_id="ix_2", queue_id="q_1")
    )
    await r.finish("ix_2", T0 + 160, "caller_hangup")
    # a call that never reached a queue, and one still in progress: not counted
    await r.start("ix_3", "voice", T0 + 5)
    await r.finish("ix_3", T0 + 20, "completed")
    await r.start("ix_4", "voice", T0 + 300)
    await r.add_event(
        DomainEvent(type="queue.entered", at=T0 + 301, interaction_id="ix_4", queue_id="q_1")
    )
    # an email with handle times recorded by its channel, still open
    await r.start("ix_5", "email", T0 + 400, attributes={})
    await r.annotate("ix_5", queue_id="q_mail")


async def test_history_from_recorded_interactions(db: Database) -> None:
    await _record(db)
    history: HistorySource = SqlHistory(db.engine)
    got = sorted([s async for s in history.summaries(T0, T0 + 3600)], key=lambda s: s.offered_at)
    assert got == [
        InteractionSummary("q_1", "voice", T0 + 10, T0 + 25, None, 125.0, 20.0, 30.0),
        InteractionSummary("q_1", "voice", T0 + 100, None, T0 + 160),
        InteractionSummary("q_mail", "email", T0 + 400),
    ]
    only = [s async for s in history.summaries(T0, T0 + 3600, "q_mail")]
    assert [s.queue_id for s in only] == ["q_mail"]


async def test_rebuild_and_staffing_through_sql(db: Database) -> None:
    items = generate([DemoQueue("q_sales", daily_volume=500)], date(2026, 3, 2), 21, seed=9)
    store = SqlIntervalStore(db.engine)
    svc = WfmService(store, MemoryHistory(items), WfmConfig(interval_seconds=1800))
    n = await svc.rebuild(items[0].offered_at, items[-1].offered_at + 1)
    assert n == len(compute(items, 1800, 20))
    plan = await svc.staffing("q_sales", None, 1, StaffingTargets("c", 0.8, 20, 0.9, "0.3"))
    data = plan.to_data()
    assert len(data["intervals"]) == 48
    assert max(r["agents_after_shrinkage"] for r in data["intervals"]) > 0
    # and live updates land in the same rows
    before = await store.load("q_sales", 0, 1e12)
    await svc.record(items[0])
    after = await store.load("q_sales", 0, 1e12)
    assert sum(r.offered for r in after) == sum(r.offered for r in before) + 1
