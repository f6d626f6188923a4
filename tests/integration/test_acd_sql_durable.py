"""The ACD's durable store in SQL, and a rebuild of Redis from it, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from contactcore.acd.history import run_history_consumer
from contactcore.acd.model import (
    AgentConfig,
    MaxWaitAction,
    Presence,
    QueueConfig,
    RelaxationStep,
    TaskSpec,
)
from contactcore.acd.service import RoutingService
from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.routing_store import SqlHistorySink, SqlRoutingDurableStore
from contactcore.adapters.db.tables import interaction_events
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.adapters.redis.stream import RedisStreamSource, parse_entry
from contactcore.errors import ContactcoreError
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_rebuild_from_sql(db: Database, redis_url: str, redis_prefix: str) -> None:
    for name in ("billing", "german"):
        await db.skills.ensure(name)
    ann = await db.agents.create(
        "Ann", "ann", capacities={"voice": 1, "chat": 2, "email": 1}, skills={"billing": 5}
    )
    bob = await db.agents.create("Bob", "bob", capacities={"voice": 1}, skills={"billing": 9})
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock, durable=durable)
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat", "email")))

    await svc.login(AgentConfig(id=ann.id, skills=ann.skills, capacity=ann.capacities))
    await svc.set_presence(ann.id, Presence.AVAILABLE)
    await svc.login(AgentConfig(id=bob.id, skills=bob.skills, capacity=bob.capacities))
    await svc.set_presence(bob.id, Presence.NOT_READY, "training")
    # a live change of skills is kept in the agent's configuration
    await svc.update_agent(
        AgentConfig(id=ann.id, skills={"billing": 7, "german": 3}, capacity=ann.capacities)
    )
    assert (await db.agents.get(ann.id)).skills == {"billing": 7, "german": 3}  # type: ignore[union-attr]

    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q", priority=2.5))
    clock.advance(5)
    await svc.enqueue(TaskSpec(id="e1", channel="email", queue="q", skills={"german": 2}))
    clock.advance(5)
    await svc.enqueue(TaskSpec(id="v1", channel="voice", queue="q"))
    (o,) = await svc.route(limit=1)
    assert (o.task_id, o.agent_id) == ("c1", ann.id)
    await svc.accept("c1", ann.id)
    tasks = {t["id"]: t for t in await durable.list_tasks()}
    assert set(tasks) == {"c1", "e1"}  # voice is not durable
    assert (tasks["c1"]["state"], tasks["c1"]["agent_id"]) == ("assigned", ann.id)
    assert tasks["c1"]["priority"] == 2.5
    assert tasks["e1"]["skills"] == {"german": 2}

    # Redis comes back empty
    keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
    await client.delete(*keys)
    fresh = RoutingService(store, clock, durable=durable)
    fresh._queues = svc._queues
    assert await fresh.rebuild() == {"queues": 1, "agents": 2, "tasks": 2}
    stats = (await fresh.live_numbers())[0]
    assert [t.task_id for t in stats.tasks] == ["e1"]
    assert stats.tasks[0].waited_s == pytest.approx(5.0)
    assert stats.agents == {"available": 0, "busy": 1, "wrap_up": 0, "not_ready": 1}
    (o,) = await fresh.route()
    assert (o.task_id, o.agent_id) == ("e1", ann.id)  # german 3 >= 2, email next to a chat
    await fresh.accept("e1", ann.id)
    await fresh.finish("e1", ann.id)
    await fresh.finish("c1", ann.id)
    assert await durable.list_tasks() == []
    await fresh.set_presence(bob.id, Presence.OFFLINE)
    assert [a["id"] for a in await durable.list_agents()] == [ann.id]
    await client.aclose()


async def test_history_consumer_writes_the_stream_to_sql_once(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, ManualClock())
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    for i in range(20):
        await svc.enqueue(TaskSpec(id=f"t{i}", channel="voice", queue="q"))
    (o,) = await svc.route()
    await svc.accept(o.task_id, o.agent_id)
    total = await client.xlen(store.keys.events)

    source = RedisStreamSource(client, redis_prefix, "history", "h1")
    sink = SqlHistorySink(db.interactions)
    stop = asyncio.Event()
    consumer = asyncio.create_task(run_history_consumer(source, sink, stop, batch=7, block_ms=50))
    for _ in range(200):
        async with db.engine.connect() as conn:
            n = await conn.scalar(select(func.count()).select_from(interaction_events))
        if n == total:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await consumer
    # a batch delivered again (a crash between write and acknowledge) is stored once
    await sink.write([e for _, e in parse_all(await client.xrange(store.keys.events))])
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(interaction_events.c.type))).all()
    assert len(rows) == total
    assert ("task.assigned",) in rows
    await client.aclose()


def parse_all(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[tuple[str, Any]]:
    return [parse_entry(eid, fields) for eid, fields in entries]


async def test_live_changes_and_timers_reach_the_durable_store(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    """A priority change, a move, an overflow and a withdrawal at the maximum wait are in
    SQL too, so a rebuild does not bring back the old state; a batch of accepts of which
    one is refused still records the others."""
    ann = await db.agents.create("Ann", "ann", capacities={"chat": 3}, skills={})
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    svc = RoutingService(RedisRoutingStore(client, redis_prefix), clock, durable=durable)
    chat = ("chat",)
    await svc.put_queue(QueueConfig(id="q", channels=chat, skills={"rare": 1}))
    await svc.put_queue(QueueConfig(id="r", channels=chat, skills={"rare": 1}))
    await svc.put_queue(
        QueueConfig(id="o", channels=chat, skills={"rare": 1},
                    relaxation=(RelaxationStep(after_s=60, overflow_to="r"),))
    )  # fmt: skip
    await svc.put_queue(
        QueueConfig(id="m", channels=chat, skills={"rare": 1}, max_wait_s=30,
                    max_wait_action=MaxWaitAction.WITHDRAW)
    )  # fmt: skip
    await svc.put_queue(QueueConfig(id="open", channels=chat))
    for tid, q in (("p", "q"), ("mv", "q"), ("ov", "o"), ("mw", "m")):
        await svc.enqueue(TaskSpec(id=tid, channel="chat", queue=q))
    await svc.set_priority("p", 7.5)
    await svc.move_task("mv", "r")
    clock.advance(61)
    assert (await svc.tick())["waits"] == 2
    tasks = {t["id"]: t for t in await durable.list_tasks()}
    assert set(tasks) == {"p", "mv", "ov"}  # "mw" was withdrawn at its maximum wait
    assert tasks["p"]["priority"] == 7.5
    assert (tasks["mv"]["queue"], tasks["ov"]["queue"]) == ("r", "r")

    await svc.login(AgentConfig(id=ann.id, capacity={"chat": 3}), Presence.AVAILABLE)
    for tid in ("c1", "c2"):
        await svc.enqueue(TaskSpec(id=tid, channel="chat", queue="open"))
    offers = await svc.route()
    assert sorted(o.task_id for o in offers) == ["c1", "c2"]
    with pytest.raises(ContactcoreError, match="not_offered"):
        await svc.accept_many([("c1", ann.id), ("p", ann.id), ("c2", ann.id)])
    tasks = {t["id"]: t for t in await durable.list_tasks()}
    assert (tasks["c1"]["state"], tasks["c2"]["state"]) == ("assigned", "assigned")
    await client.aclose()


async def test_a_running_router_rebuilds_what_redis_lost(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    """Redis comes back empty under a running router; an agent logs in again before it
    notices. Within a tick the state is refilled from SQL (the agent's new session kept),
    a chat that waited keeps its place and age, and new work is routed as before."""
    for name in ("ann", "bob"):
        await db.agents.create(name.title(), name, capacities={"chat": 2}, skills={})
    ann, bob = [a.id for a in sorted(await db.agents.list(), key=lambda a: a.name)]
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock, durable=durable)
    queue = QueueConfig(id="q", channels=("chat",), skills={"rare": 1})
    await svc.start([queue, QueueConfig(id="open", channels=("chat",))])
    await svc.login(AgentConfig(id=ann, capacity={"chat": 2}), Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="waits", channel="chat", queue="q"))
    clock.advance(30)
    stop = asyncio.Event()
    router = asyncio.create_task(svc.run(stop, tick_s=0.0, idle_s=0.02))
    try:
        keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
        await client.delete(*keys)
        await svc.login(AgentConfig(id=bob, capacity={"chat": 2}), Presence.AVAILABLE)
        for _ in range(100):
            if await store.is_live():
                break
            await asyncio.sleep(0.02)
        assert await store.is_live()
        stats = {s.queue_id: s for s in await svc.live_numbers()}
        assert [(t.task_id, t.waited_s) for t in stats["q"].tasks] == [("waits", 30.0)]
        assert stats["open"].agents["available"] == 2  # ann from SQL, bob's own login
        await svc.enqueue(TaskSpec(id="new", channel="chat", queue="open"))
        for _ in range(100):
            if (await svc.agent_work(ann)).tasks or (await svc.agent_work(bob)).tasks:
                break
            await asyncio.sleep(0.02)
        held = [t.task_id for a in (ann, bob) for t in (await svc.agent_work(a)).tasks]
        assert held == ["new"]
    finally:
        stop.set()
        await router
        await client.aclose()


async def test_an_enqueue_into_an_emptied_redis_refills_it_first(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock, durable=durable)
    await svc.start([QueueConfig(id="q", channels=("email",))])
    await svc.enqueue(TaskSpec(id="e1", channel="email", queue="q"))
    keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
    await client.delete(*keys)
    await svc.enqueue(TaskSpec(id="e2", channel="email", queue="q"))  # no queue_not_found
    stats = (await svc.live_numbers())[0]
    assert [t.task_id for t in stats.tasks] == ["e1", "e2"]
    await client.aclose()


async def test_the_history_consumer_goes_on_after_redis_lost_its_stream(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    """The stream and its consumer group vanish (Redis restarted empty): the consumer says
    so, makes its group again and stores the events written after."""
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, ManualClock())
    await svc.put_queue(QueueConfig(id="q"))
    source = RedisStreamSource(client, redis_prefix, "history", "h1")
    sink = SqlHistorySink(db.interactions)
    stop = asyncio.Event()
    consumer = asyncio.create_task(run_history_consumer(source, sink, stop, batch=7, block_ms=50))

    async def stored() -> set[str]:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(interaction_events.c.task_id))).all()
        return {r[0] for r in rows if r[0]}

    try:
        await svc.enqueue(TaskSpec(id="before", channel="voice", queue="q"))
        for _ in range(200):
            if "before" in await stored():
                break
            await asyncio.sleep(0.02)
        await client.delete(store.keys.events)  # with its consumer group
        await svc.enqueue(TaskSpec(id="after", channel="voice", queue="q"))
        for _ in range(300):
            if "after" in await stored():
                break
            await asyncio.sleep(0.02)
        assert await stored() == {"before", "after"}
        assert not consumer.done()
    finally:
        stop.set()
        await consumer
        await client.aclose()


async def test_an_agents_own_cross_channel_rules_outlive_redis(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    """Ann's rule: a chat in hand blocks calls (not the default). It is kept in SQL and
    still holds after Redis lost the state."""
    ann = await db.agents.create("Ann", "ann", capacities={"voice": 1, "chat": 2}, skills={})
    assert ann.blocks is None  # the default rule until one is set
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock, durable=durable)
    await svc.start([QueueConfig(id="q", channels=("voice", "chat"))])
    rule = AgentConfig.stored(ann.id, {}, ann.capacities, {"chat": ["voice"]})
    await svc.login(rule, Presence.AVAILABLE)
    assert (await db.agents.get(ann.id)).blocks == {"chat": ["voice"]}  # type: ignore[union-attr]
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    [offer] = await svc.route()
    await svc.accept(offer.task_id, ann.id)

    keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
    await client.delete(*keys)
    await svc.recover()
    await svc.enqueue(TaskSpec(id="v1", channel="voice", queue="q"))
    assert await svc.route() == []  # the chat in hand blocks the call
    await svc.finish("c1", ann.id)
    assert [o.task_id for o in await svc.route()] == ["v1"]
    await client.aclose()


async def test_a_refill_keeps_what_the_agents_were_doing(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    """Ann logged out with a chat in hand: after a refill the chat is still hers, and her
    session ends only when she finishes it. Bob's offer rang out: he stays not ready. A
    queue another process closed stays closed (the queues come from SQL)."""
    ann = await db.agents.create("Ann", "ann", capacities={"chat": 2}, skills={})
    bob = await db.agents.create("Bob", "bob", capacities={"chat": 2}, skills={})
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    store = RedisRoutingStore(client, redis_prefix)
    svc = RoutingService(store, clock, durable=durable)
    chat = ("chat",)
    stored = {"q": QueueConfig(id="q", channels=chat, offer_timeout_s=10),
              "night": QueueConfig(id="night", channels=chat)}  # fmt: skip

    async def reload() -> list[QueueConfig]:
        return list(stored.values())

    await svc.start(list(stored.values()), reload=reload)
    await svc.login(AgentConfig(id=ann.id, capacity={"chat": 2}), Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    assert [o.agent_id for o in await svc.route()] == [ann.id]
    await svc.accept("c1", ann.id)
    await svc.set_presence(ann.id, Presence.OFFLINE)  # with c1 in hand
    await svc.login(AgentConfig(id=bob.id, capacity={"chat": 2}), Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="c2", channel="chat", queue="q"))
    [offer] = await svc.route()
    assert offer.agent_id == bob.id
    clock.advance(11)
    await svc.tick()  # bob did not answer
    stored["night"] = stored["night"].model_copy(update={"open": False})  # elsewhere

    keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
    await client.delete(*keys)
    await svc.recover()
    agents = {a.agent_id: a for a in await svc.live_agents()}
    assert agents[bob.id].presence is Presence.NOT_READY
    assert agents[bob.id].reason == "no-answer"
    assert agents[ann.id].tasks == ("c1",)
    assert await svc.route() == []  # c2 waits: nobody available; c1 stays with ann
    queues = {s.queue_id: s.open for s in await svc.live_numbers()}
    assert queues == {"q": True, "night": False}
    await svc.finish("c1", ann.id)
    assert ann.id not in {a["id"] for a in await durable.list_agents()}
    assert ann.id not in {a.agent_id for a in await svc.live_agents()}
    await client.aclose()


async def test_two_changes_of_one_task_at_once_both_land(db: Database) -> None:
    """An overflow and an accept written by two processes at the same moment: the row
    ends assigned and in the new queue, whichever wrote last."""
    clock = ManualClock()
    one = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    other = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    for i in range(20):
        tid = f"c{i}"
        await one.save_task(
            {"id": tid, "channel": "chat", "queue": "q", "priority": 0, "enqueued_at": 1.0}
        )
        await asyncio.gather(one.update_task(tid, queue="r"), other.assign_task(tid, "ann"))
    for t in await one.list_tasks():
        assert (t["state"], t["agent_id"], t["queue"]) == ("assigned", "ann", "r"), t


async def test_a_refused_enqueue_leaves_sql_as_it_was(
    db: Database, redis_url: str, redis_prefix: str
) -> None:
    """A chat into a closed queue is not kept; the same id sent again while the first is
    in an agent's hands leaves the first one's row alone."""
    ann = await db.agents.create("Ann", "ann", capacities={"chat": 2}, skills={})
    clock = ManualClock()
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    client = aioredis.Redis.from_url(redis_url)
    svc = RoutingService(RedisRoutingStore(client, redis_prefix), clock, durable=durable)
    await svc.start([QueueConfig(id="q", channels=("chat",)),
                     QueueConfig(id="shut", channels=("chat",), open=False)])  # fmt: skip
    with pytest.raises(ContactcoreError, match="queue_closed"):
        await svc.enqueue(TaskSpec(id="c0", channel="chat", queue="shut"))
    assert await durable.list_tasks() == []
    await svc.login(AgentConfig(id=ann.id, capacity={"chat": 2}), Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    assert [o.agent_id for o in await svc.route()] == [ann.id]
    await svc.accept("c1", ann.id)
    with pytest.raises(ContactcoreError, match="task_exists"):
        await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    [row] = await durable.list_tasks()
    assert (row["id"], row["state"], row["agent_id"]) == ("c1", "assigned", ann.id)
    await client.aclose()
