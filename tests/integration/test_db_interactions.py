"""The interaction recorder and its timeline, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.timeline import BufferedTimeline
from contactcore.core.events import DomainEvent
from contactcore.core.ports import InteractionRecorder
from contactcore.errors import Conflict, NotFound

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_recorder_keeps_a_timeline_in_order(db: Database) -> None:
    recorder: InteractionRecorder = db.interactions
    await recorder.start("ix_1", "voice", T0, caller="+447700900001", called="100")
    # The stream consumer may deliver out of order and twice; one event may even
    # arrive before the call owner wrote the interaction (tested in the next test).
    answered = DomainEvent(type="agent.answered", at=T0 + 30, interaction_id="ix_1")
    events = [
        DomainEvent(type="flow.node", at=T0 + 1, interaction_id="ix_1", payload={"node": "menu"}),
        answered,
        DomainEvent(
            type="queue.entered",
            at=T0 + 5,
            interaction_id="ix_1",
            task_id="tk_1",
            queue_id="q_1",
        ),
        DomainEvent(type="dtmf", at=T0 + 1, interaction_id="ix_1", payload={"digit": "1"}),
        answered,
    ]
    for e in events:
        await recorder.add_event(e)
    await db.interactions.annotate(
        "ix_1", queue_id="q_1", agent_id="ag_1", attributes={"verified": True}
    )
    await db.interactions.annotate("ix_1", recording="ix_1.wav", attributes={"digits": "1"})
    await recorder.finish("ix_1", T0 + 95, "answered")

    got = await db.interactions.get_interaction("ix_1")
    assert got is not None
    assert [e.type for e in got.events] == ["flow.node", "dtmf", "queue.entered", "agent.answered"]
    assert got.events[1].payload == {"digit": "1"}
    assert (got.events[2].task_id, got.events[2].queue_id) == ("tk_1", "q_1")
    assert got.events[3].id == answered.id
    assert (got.caller, got.called, got.channel, got.direction) == (
        "+447700900001",
        "100",
        "voice",
        "inbound",
    )
    assert (got.started_at, got.ended_at, got.outcome) == (T0, T0 + 95, "answered")
    assert (got.queue_id, got.agent_id, got.recording) == ("q_1", "ag_1", "ix_1.wav")
    assert got.attributes == {"verified": True, "digits": "1"}


async def test_event_before_start_and_restart_of_start(db: Database) -> None:
    early = DomainEvent(type="task.created", at=T0, interaction_id="ix_2")
    await db.interactions.add_event(early)
    await db.interactions.start("ix_2", "chat", T0, caller="web")
    await db.interactions.start("ix_2", "voice", T0 + 9)  # a retry keeps the first
    got = await db.interactions.get_interaction("ix_2")
    assert got is not None
    assert (got.channel, got.started_at, got.ended_at) == ("chat", T0, None)
    assert [e.id for e in got.events] == [early.id]


async def test_missing_interaction(db: Database) -> None:
    assert await db.interactions.get_interaction("ix_missing") is None
    with pytest.raises(NotFound):
        await db.interactions.finish("ix_missing", T0, "abandoned")
    with pytest.raises(NotFound):
        await db.interactions.annotate("ix_missing", queue_id="q_1")


async def test_list_by_time_and_queue(db: Database) -> None:
    for i, queue in enumerate(["q_a", "q_b", "q_a", None]):
        await db.interactions.start(f"ix_{i}", "voice", T0 + i * 60)
        if queue:
            await db.interactions.annotate(f"ix_{i}", queue_id=queue)
    assert [x.id for x in await db.interactions.list_interactions(T0, T0 + 240)] == [
        "ix_0",
        "ix_1",
        "ix_2",
        "ix_3",
    ]
    assert [x.id for x in await db.interactions.list_interactions(T0 + 60, T0 + 180)] == [
        "ix_1",
        "ix_2",
    ]
    in_a = await db.interactions.list_interactions(T0, T0 + 240, queue_id="q_a")
    assert [x.id for x in in_a] == ["ix_0", "ix_2"]
    assert all(x.events == () for x in in_a)


async def test_customer_link_must_exist(db: Database) -> None:
    c = await db.customers.create("Known", phones=["+447700900077"])
    await db.interactions.start("ix_c", "voice", T0)
    await db.interactions.annotate("ix_c", customer_id=c.id)
    got = await db.interactions.get_interaction("ix_c")
    assert got is not None
    assert got.customer_id == c.id
    with pytest.raises(Conflict):
        await db.interactions.annotate("ix_c", customer_id="cu_missing")
    await db.interactions.start("ix_d", "chat", T0 + 60)
    await db.interactions.annotate("ix_d", customer_id=c.id)
    await db.interactions.start("ix_e", "voice", T0 + 120)
    history = await db.interactions.list_for_customer(c.id)
    assert [x.id for x in history] == ["ix_d", "ix_c"]
    assert [x.id for x in await db.interactions.list_for_customer(c.id, limit=1)] == ["ix_d"]


async def test_batch_of_events_with_redeliveries(db: Database) -> None:
    await db.interactions.start("ix_batch", "email", T0)
    events = [
        DomainEvent(type="n", at=T0 + (i % 7), interaction_id="ix_batch", payload={"i": i})
        for i in range(250)
    ]
    await db.interactions.add_events(events[:150])
    await db.interactions.add_events(events[100:])  # 50 redelivered
    await db.interactions.add_events([])
    got = await db.interactions.get_interaction("ix_batch")
    assert got is not None
    assert len(got.events) == 250
    # Ordered by time, and within equal times by arrival.
    expected = sorted(range(250), key=lambda i: (i % 7, i))
    assert [e.payload["i"] for e in got.events] == expected


async def test_buffered_timeline_stores_every_event_before_the_interaction_closes(
    db: Database,
) -> None:
    timeline = BufferedTimeline(db.interactions)
    timeline.start_writer()
    recorder: InteractionRecorder = timeline
    calls = [f"ix_b{i}" for i in range(20)]

    async def call(interaction_id: str) -> None:
        await recorder.start(interaction_id, "voice", T0)
        for n in range(10):
            await recorder.add_event(
                DomainEvent(type="ivr.node", at=T0 + n, interaction_id=interaction_id)
            )
        await recorder.finish(interaction_id, T0 + 20, "answered")

    await asyncio.gather(*(call(c) for c in calls))
    for interaction_id in calls:
        got = await db.interactions.get_interaction(interaction_id)
        assert got is not None
        assert got.outcome == "answered"
        assert [e.at for e in got.events] == [T0 + n for n in range(10)]
    assert timeline.batches < 200  # batched: fewer transactions than events
    await timeline.close()
