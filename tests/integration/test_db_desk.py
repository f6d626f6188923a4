"""The desktop's history adapter on both backends: customer context, dispositions and
the counts of the wallboard and an agent's day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.desk import SqlDeskHistory
from contactcore.core.desk import Disposition, QueueDay
from contactcore.core.events import DomainEvent

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


def event(kind: str, at: float, queue: str, **payload: Any) -> DomainEvent:
    return DomainEvent(type=kind, at=at, queue_id=queue, task_id=f"tk_{at}", payload=payload)


async def test_queue_counts_answered_in_service_level_and_abandoned(db: Database) -> None:
    await db.interactions.add_events(
        [
            event("task.assigned", T0 - 10, "billing", waited=1.0),  # before `since`
            event("task.assigned", T0 + 1, "billing", waited=5.0),
            event("task.assigned", T0 + 2, "billing", waited=20.0),  # at the threshold
            event("task.assigned", T0 + 3, "billing", waited=20.5),
            event("task.assigned", T0 + 4, "vip", waited=15.0),  # vip: 10 s
            event("task.withdrawn", T0 + 5, "billing", reason="abandoned", waited=40.0),
            event("task.withdrawn", T0 + 6, "billing", reason="max-wait", waited=600.0),
            event("task.offered", T0 + 7, "billing"),
            event("task.assigned", T0 + 8, "support", waited=1.0),  # not asked for
        ]
    )
    desk = SqlDeskHistory(db.engine)
    counts = await desk.queue_counts(T0, {"billing": 20.0, "vip": 10.0, "general": 20.0})
    assert counts == {
        "billing": QueueDay(answered=3, answered_in_sl=2, abandoned=1),
        "vip": QueueDay(answered=1, answered_in_sl=0, abandoned=0),
    }
    assert await desk.queue_counts(T0, {}) == {}


async def test_customer_context_and_disposition(db: Database) -> None:
    customer = await db.customers.create("Ada Lovelace", tier="vip", phones=["+447700900123"])
    await db.interactions.start("ix_old", "email", T0 - 100)
    await db.interactions.annotate("ix_old", customer_id=customer.id)
    await db.interactions.start("ix_call", "voice", T0)
    await db.interactions.annotate("ix_call", customer_id=customer.id)
    await db.interactions.add_events(
        [
            DomainEvent(type="ivr.flow_entered", at=T0 + 1, interaction_id="ix_call",
                        payload={"number": "100", "name": "main"}),
            DomainEvent(type="ivr.node", at=T0 + 2, interaction_id="ix_call", payload={}),
            DomainEvent(type="ivr.queue_entered", at=T0 + 3, interaction_id="ix_call",
                        queue_id="billing", payload={}),
            DomainEvent(type="queue.entered", at=T0 + 3, interaction_id="ix_call",
                        task_id="tk_call", queue_id="billing"),
        ]
    )  # fmt: skip
    desk = SqlDeskHistory(db.engine)
    assert await desk.customer_name(customer.id) == "Ada Lovelace"
    assert await desk.customer_name("cu_nobody") is None
    assert await desk.ivr_path("ix_call") == ["flow main", "queue billing"]
    previous = await desk.previous_interactions(customer.id, "ix_call", 5)
    assert [p.id for p in previous] == ["ix_old"]

    # the task's interaction is found from its voice events
    stored = await desk.record_disposition(
        Disposition("tk_call", "ag_1", "escalated", "to the second line", T0 + 60)
    )
    assert stored == "ix_call"
    record = await db.interactions.get_interaction("ix_call")
    assert record is not None
    assert record.attributes == {"disposition": "escalated", "note": "to the second line"}
    assert record.events[-1].type == "task.disposition"
    assert [p.disposition for p in await desk.previous_interactions(customer.id, None, 5)] == [
        "escalated",
        None,
    ]
    # a task without a recorded interaction still keeps its disposition
    assert await desk.record_disposition(Disposition("tk_chat", "ag_1", "resolved", "", T0)) is None
    kept = await desk.events_since(T0, ("task.disposition",), "ag_1")
    assert [(e.task_id, e.payload["disposition"]) for e in kept] == [
        ("tk_chat", "resolved"),
        ("tk_call", "escalated"),
    ]
