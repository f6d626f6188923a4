"""Rebuilding the live routing state from the durable store after Redis lost it."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from contactcore.acd.model import AgentConfig, Presence, QueueConfig, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.errors import Conflict
from contactcore.testing.acd_fakes import InMemoryDurableStore, ManualClock

pytestmark = pytest.mark.integration


async def _wipe(client: aioredis.Redis, store: RedisRoutingStore) -> None:
    """What a Redis restart without persistence leaves: nothing (events kept aside)."""
    keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
    keys = [k for k in keys if k.decode() != store.keys.events]
    await client.delete(*keys)


async def test_rebuild_restores_agents_and_open_digital_tasks(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    clock = ManualClock()
    durable = InMemoryDurableStore()
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock, durable=durable)
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat", "email")))
    caps = {"voice": 1, "chat": 2, "email": 1}
    await svc.login(AgentConfig(id="ann", capacity=caps), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="bob", capacity=caps), Presence.NOT_READY, "lunch")
    await svc.login(AgentConfig(id="cid", capacity=caps), Presence.AVAILABLE)
    await svc.set_presence("cid", Presence.OFFLINE)
    for i, ch in enumerate(["chat", "email", "voice", "chat", "email"]):
        await svc.enqueue(TaskSpec(id=f"t{i}", channel=ch, queue="q"))
        clock.advance(10)
    (o,) = await svc.route(limit=1)
    assert (o.task_id, o.agent_id) == ("t0", "ann")
    await svc.accept("t0", "ann")
    before = {s.queue_id: s for s in await svc.live_numbers()}["q"]

    await _wipe(client, store)
    assert await store.is_empty()
    fresh = RoutingService(store, clock, durable=durable)
    fresh._queues = svc._queues  # the composition root hands the queue definitions in
    counts = await fresh.rebuild()
    assert counts == {"queues": 1, "agents": 2, "tasks": 4}

    after = {s.queue_id: s for s in await fresh.live_numbers()}["q"]
    # the voice call died with its process; the digital tasks keep their place and age
    assert [t.task_id for t in after.tasks] == ["t1", "t3", "t4"]
    waited = {t.task_id: t.waited_s for t in before.tasks}
    assert [t.waited_s for t in after.tasks] == [waited["t1"], waited["t3"], waited["t4"]]
    assert after.agents == {"available": 0, "busy": 1, "wrap_up": 0, "not_ready": 1}
    # ann still holds t0 (chat 1 of 2): she takes the email t1 and one more chat, t3, but
    # not t4 (email capacity 1); bob is still at lunch
    offers = await fresh.route()
    assert [(o.task_id, o.agent_id) for o in offers] == [("t1", "ann"), ("t3", "ann")]
    await fresh.finish("t0", "ann")
    with pytest.raises(Conflict):
        await fresh.rebuild()  # never over live state
