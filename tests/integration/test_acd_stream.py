"""Events on a Redis Stream, read by the history consumer with a consumer group: a consumer
killed mid-way and restarted loses nothing and, with a sink idempotent by event id,
duplicates nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from contactcore.acd.history import run_history_consumer
from contactcore.acd.model import AgentConfig, Presence, QueueConfig, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.keys import Keys
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.adapters.redis.stream import RedisStreamBus, RedisStreamSource, RedisStreamTail
from contactcore.core.clock import SystemClock
from contactcore.core.events import DomainEvent

pytestmark = pytest.mark.integration


class RedisHashSink:
    """Stores events by id (HSETNX, like INSERT .. ON CONFLICT DO NOTHING) and counts
    deliveries, slowly, so that a kill lands in the middle."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.store = f"{prefix}:sink"
        self.seen = f"{prefix}:seen"

    async def write(self, events: Sequence[DomainEvent]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for ev in events:
            pipe.hsetnx(self.store, ev.id, ev.model_dump_json())
            pipe.hincrby(self.seen, ev.id, 1)
        await pipe.execute()
        await asyncio.sleep(0.02)


async def _consume(url: str, prefix: str, consumer: str, claim_idle_ms: int) -> None:
    client = aioredis.Redis.from_url(url)
    source = RedisStreamSource(client, prefix, "history", consumer)
    stop = asyncio.Event()
    await run_history_consumer(
        source, RedisHashSink(client, prefix), stop, batch=50, block_ms=100,
        claim_idle_ms=claim_idle_ms,
    )  # fmt: skip


def _consumer_process(url: str, prefix: str, consumer: str, claim_idle_ms: int) -> None:
    asyncio.run(_consume(url, prefix, consumer, claim_idle_ms))


async def test_killed_consumer_loses_nothing(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    bus = RedisStreamBus(client, redis_prefix)
    # events from the engine's scripts and from Python, on the same stream
    svc = RoutingService(RedisRoutingStore(client, redis_prefix), SystemClock())
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    await svc.enqueue_many([TaskSpec(id=f"t{i}", channel="voice", queue="q") for i in range(300)])
    for i in range(1200):
        await bus.publish(DomainEvent(type="test.tick", at=float(i)))
    total = await client.xlen(bus.stream)
    assert total == 1200 + 302

    ctx = multiprocessing.get_context("spawn")
    first = ctx.Process(target=_consumer_process, args=(redis_url, redis_prefix, "c1", 60_000))
    first.start()
    sink = RedisHashSink(client, redis_prefix)
    while await client.hlen(sink.store) < 300:  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.01)
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    await asyncio.to_thread(first.join, 10)
    assert await client.hlen(sink.store) < total  # killed mid-way

    # a new consumer takes over what c1 left pending (stale after 200 ms) and the rest
    second = ctx.Process(target=_consumer_process, args=(redis_url, redis_prefix, "c2", 200))
    second.start()
    try:
        for _ in range(1000):
            pending = await client.xpending(bus.stream, "history")
            if await client.hlen(sink.store) == total and pending["pending"] == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        assert second.pid is not None
        os.kill(second.pid, signal.SIGTERM)
        await asyncio.to_thread(second.join, 10)
    entries = await client.xrange(bus.stream)
    ids = {f"ev_{eid.decode()}" for eid, f in entries if b'"id"' not in f[b"e"]}
    stored = {k.decode() for k in await client.hkeys(sink.store)}
    assert len(stored) == total
    assert ids <= stored  # the engine's events are stored under their stream ids
    assert (await client.xpending(bus.stream, "history"))["pending"] == 0
    await client.aclose()


async def test_a_pinned_tail_reads_what_came_before_its_first_read(
    redis_url: str, redis_prefix: str
) -> None:
    """A controller pins its feeds before taking calls: an offer published between the
    pin and the first read (e.g. by another process's router) is still delivered."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        bus = RedisStreamBus(client, redis_prefix)
        await bus.publish(DomainEvent(type="task.offered", at=1.0, task_id="before"))
        tail = RedisStreamTail(client, redis_prefix)
        await tail.pin()
        await bus.publish(DomainEvent(type="task.offered", at=2.0, task_id="between"))
        await tail.pin()  # a second pin keeps the first starting point
        assert [e.task_id for e in await tail.read(10, 100)] == ["between"]
        unpinned = RedisStreamTail(client, redis_prefix)
        await bus.publish(DomainEvent(type="task.offered", at=3.0, task_id="late"))
        assert await unpinned.read(10, 1) == []  # starts at its first read: "late" is past
    finally:
        await client.delete(Keys(redis_prefix).events)
        await client.aclose()
