"""The Redis side of the router: pipelined script calls and the agent's hash after work."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis

from contactcore.acd.model import AgentConfig, Presence, QueueConfig, TaskSpec
from contactcore.acd.service import RoutingService, queue_doc
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration


async def _libraries(client: aioredis.Redis, name: str) -> list[str]:
    raw = await client.function_list(name)
    return [dict(zip(lib[::2], lib[1::2], strict=True))[b"library_name"].decode() for lib in raw]


@pytest.mark.parametrize("pipelined", [True, False])
async def test_a_missing_function_is_loaded_and_each_call_runs_once(
    client: aioredis.Redis, redis_prefix: str, pipelined: bool
) -> None:
    store = RedisRoutingStore(client, redis_prefix)
    # a variant of the code this Redis has never seen (same commands, its own digest and
    # so its own function), so the first call finds it missing, as after a Redis restart
    store.use_code(store.code + f"\n-- {uuid.uuid4().hex}\n")
    now = 1_800_000_000.0
    calls = [
        ("put_queue", now, {"queue": queue_doc(QueueConfig(id="qa"))}),
        ("put_queue", now, {"queue": queue_doc(QueueConfig(id="qb"))}),
    ]
    assert await _libraries(client, store.function) == []
    try:
        if pipelined:
            results = await store.execute_many(calls)
        else:
            results = [await store.execute(*call) for call in calls]
        assert results == [{"ok": True}, {"ok": True}]
        assert await _libraries(client, store.function) == [store.function]
    finally:
        await client.function_delete(store.function)
    created = [
        json.loads(f[b"e"])["queue_id"]
        for _, f in await client.xrange(store.keys.events)
        if json.loads(f[b"e"])["type"] == "queue.created"
    ]
    assert sorted(created) == ["qa", "qb"]  # each call ran exactly once


async def test_agent_hash_after_offer_accept_finish(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    store = RedisRoutingStore(client, redis_prefix)
    clock = ManualClock()
    svc = RoutingService(store, clock)
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat"), skills={"billing": 1}))
    caps = {"voice": 1, "chat": 2}
    await svc.login(AgentConfig(id="ann", skills={"billing": 5}, capacity=caps), Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="t1", channel="voice", queue="q"))
    clock.advance(2)
    [offer] = await svc.route()
    key = store.keys.key("agent", "ann")
    h = {k.decode(): v.decode() for k, v in (await client.hgetall(key)).items()}
    offered_at = clock.now()
    assert h["ld:voice"] == "1"
    assert float(h["since:voice"]) == offered_at
    chat_since = h["since:chat"]
    # the call blocks chats too: nothing is offered to her meanwhile
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    assert await svc.route() == []
    await svc.accept(offer.task_id, "ann")
    clock.advance(30)
    await svc.finish(offer.task_id, "ann")
    h = {k.decode(): v.decode() for k, v in (await client.hgetall(key)).items()}
    assert h["ld:voice"] == "0"
    assert float(h["since:voice"]) == float(h["idle"]) == clock.now()
    # her chat time is still her own, older one (her login: no chat work yet)
    assert h["since:chat"] == chat_since != h["idle"]
    # unblocked: the waiting chat goes to her now
    assert [o.agent_id for o in await svc.route()] == ["ann"]
