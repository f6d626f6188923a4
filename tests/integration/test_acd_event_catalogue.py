"""Every event the engine writes is in the catalogue (acd/events.py) and reads as its model."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from contactcore.acd.events import ACD_EVENTS, TaskAssigned, payload_of
from contactcore.acd.model import (
    AgentConfig,
    MaxWaitAction,
    Presence,
    QueueConfig,
    RelaxationStep,
    TaskSpec,
)
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.adapters.redis.stream import parse_entry
from contactcore.core.events import DomainEvent
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration


async def test_every_kind_of_change_writes_events_of_the_catalogue(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    clock = ManualClock()
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock)
    chat = ("voice", "chat")
    await svc.put_queue(QueueConfig(id="general", channels=chat, wrapup_s=5))
    await svc.put_queue(
        QueueConfig(id="q", channels=chat, skills={"rare": 5},
                    relaxation=(RelaxationStep(after_s=60, overflow_to="general"),))
    )  # fmt: skip
    await svc.put_queue(QueueConfig(id="m", skills={"rare": 5}, max_wait_s=10))
    await svc.put_queue(
        QueueConfig(id="w", skills={"rare": 5}, max_wait_s=10,
                    max_wait_action=MaxWaitAction.WITHDRAW)
    )  # fmt: skip
    await svc.put_queue(QueueConfig(id="m", skills={"rare": 4}, max_wait_s=10))  # updated
    await svc.set_queue_open("m", False)
    await svc.set_queue_open("m", True)
    caps = {"voice": 1, "chat": 2}
    await svc.login(AgentConfig(id="ann", skills={"x": 3}, capacity=caps), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="bob", capacity=caps))
    await svc.update_agent(AgentConfig(id="bob", skills={"x": 4}, capacity=caps))
    await svc.set_presence("bob", Presence.NOT_READY, "break")

    await svc.enqueue(TaskSpec(id="t1", channel="voice", queue="general"))
    await svc.enqueue(TaskSpec(id="t2", channel="chat", queue="q"))
    await svc.enqueue(TaskSpec(id="t3", channel="voice", queue="m"))
    await svc.enqueue(TaskSpec(id="t4", channel="voice", queue="w"))
    await svc.enqueue(TaskSpec(id="t5", channel="chat", queue="general", priority=1))
    await svc.set_priority("t5", 3)
    await svc.move_task("t5", "q")
    await svc.move_task("t5", "general")
    [offer] = await svc.route(limit=1)
    await svc.reject(offer.task_id, "ann")
    clock.advance(1)
    [offer] = await svc.route(limit=1)
    clock.advance(30)
    await svc.tick()  # RONA, and the maximum waits
    await svc.set_presence("ann", Presence.AVAILABLE)
    clock.advance(31)
    await svc.tick()  # the overflow of t2
    offers = await svc.route()
    for o in offers:
        await svc.accept(o.task_id, o.agent_id)
    await svc.finish(offers[0].task_id, offers[0].agent_id)
    await svc.end_wrapup("ann")
    await svc.withdraw("t3", "hangup")
    await svc.set_presence("bob", Presence.OFFLINE)

    # a rebuild restores work in hand (what RoutingService.rebuild sends for it)
    await svc.login(AgentConfig(id="cid", capacity={"chat": 1}))
    restored = {"id": "c9", "channel": "chat", "queue": "general", "priority": 0,
                "enqueued_at": 1.0, "restore": True, "assigned_to": "cid"}  # fmt: skip
    assert await store.execute("enqueue", clock.now(), {"tasks": [restored]}) == [
        {"ok": True, "task": "c9"}
    ]

    events = [parse_entry(i, f)[1] for i, f in await client.xrange(store.keys.events)]
    seen = {e.type for e in events}
    assert seen == set(ACD_EVENTS), f"not written: {set(ACD_EVENTS) - seen}"
    for e in events:
        payload_of(e)  # raises for a field the catalogue does not know or lacks
    assigned = [payload_of(e) for e in events if e.type == "task.assigned"]
    assert all(isinstance(p, TaskAssigned) and p.explanation.winner.agent for p in assigned)


def test_the_catalogue_refuses_a_payload_it_does_not_describe() -> None:
    ok = DomainEvent(type="task.moved", at=1.0, payload={"from_queue": "a"})
    assert payload_of(ok).model_dump() == {"from_queue": "a"}
    with pytest.raises(ValidationError):
        payload_of(DomainEvent(type="task.moved", at=1.0, payload={"from": "a"}))
    with pytest.raises(KeyError):
        payload_of(DomainEvent(type="call.transfer_requested", at=1.0))
