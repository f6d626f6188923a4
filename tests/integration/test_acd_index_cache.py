"""The engine keeps agents and the availability index in Redis's Lua memory between calls.

What these tests hold it to: the cache never answers from a state Redis no longer has.
Changes made by another copy of the engine (another library version on the same keys),
keys deleted under it and a call that failed half-way all make it read the agents again;
and a rebuilt index orders agents exactly as the one kept up to date call by call.
"""

from __future__ import annotations

import json
import random
import uuid

import pytest
import redis.asyncio as aioredis

from contactcore.acd.model import AgentConfig, Presence, QueueConfig, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration

CAPS = {"voice": 1, "chat": 2}


def agent(aid: str, level: int = 5) -> AgentConfig:
    return AgentConfig(id=aid, skills={"billing": level}, capacity=CAPS)


def service(
    client: aioredis.Redis, prefix: str
) -> tuple[RoutingService, ManualClock, RedisRoutingStore]:
    clock = ManualClock()
    store = RedisRoutingStore(client, prefix)
    return RoutingService(store, clock), clock, store


def variant(client: aioredis.Redis, prefix: str) -> RedisRoutingStore:
    """The same engine as a second library (own digest, own cache) on the same keys."""
    store = RedisRoutingStore(client, prefix)
    store.use_code(store.code + f"\n-- variant {uuid.uuid4().hex}\n")
    return store


async def test_changes_by_another_library_on_the_same_keys_are_seen(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    clock = ManualClock()
    a = RoutingService(RedisRoutingStore(client, redis_prefix), clock)
    b_store = variant(client, redis_prefix)
    b = RoutingService(b_store, clock)
    try:
        await a.put_queue(QueueConfig(id="q", channels=("voice", "chat"), skills={"billing": 1}))
        await a.login(agent("ann"), Presence.AVAILABLE)
        clock.advance(1)
        await a.login(agent("bob"), Presence.AVAILABLE)
        await a.enqueue(TaskSpec(id="t1", channel="voice", queue="q"))
        # b has never run: it reads what a wrote
        assert [o.agent_id for o in await b.route()] == ["ann"]
        # a pauses bob after b's cache was built; b must not offer to him
        await a.set_presence("bob", Presence.NOT_READY, "break")
        await a.enqueue(TaskSpec(id="t2", channel="voice", queue="q"))
        assert await b.route() == []
        # b ends ann's call; a must see her free again
        await b.accept("t1", "ann")
        await b.finish("t1", "ann")
        assert [o.agent_id for o in await a.route()] == ["ann"]
        # queue configurations are kept too: b closes the queue, a must not route from it
        await a.accept("t2", "ann")
        await a.finish("t2", "ann")
        await a.enqueue(TaskSpec(id="t3", channel="voice", queue="q"))
        await b.set_queue_open("q", False)
        assert await a.route() == []
        await b.set_queue_open("q", True)
        assert [o.task_id for o in await a.route()] == ["t3"]
    finally:
        await client.function_delete(b_store.function)


async def test_keys_deleted_under_the_engine_are_not_answered_from_memory(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    svc, clock, store = service(client, redis_prefix)
    await svc.put_queue(QueueConfig(id="q", channels=("voice",), skills={"billing": 1}))
    await svc.login(agent("ann"), Presence.AVAILABLE)
    # an emptied Redis (or someone deleting the keys): ann is gone
    keys = [k async for k in client.scan_iter(match=store.keys.all_pattern)]
    await client.delete(*keys)
    await svc.put_queue(QueueConfig(id="q", channels=("voice",), skills={"billing": 1}))
    await svc.login(agent("bob"), Presence.AVAILABLE)
    clock.advance(1)
    await svc.enqueue(TaskSpec(id="t1", channel="voice", queue="q"))
    [offer] = await svc.route()
    assert offer.agent_id == "bob"
    await svc.enqueue(TaskSpec(id="t2", channel="voice", queue="q"))
    assert await svc.route() == []  # nobody else: ann is not offered from memory


async def test_a_call_that_fails_half_way_leaves_no_stale_cache(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    svc, clock, _ = service(client, redis_prefix)
    # a variant whose pause fails after it changed the agent's hash and its cached table
    broken = variant(client, redis_prefix)
    marker = "function C.presence()\n"
    assert marker in broken.code
    broken.use_code(
        broken.code.replace(marker, marker + "  if args.reason == 'boom' then\n"
                            "    local a = agent(args.agent)\n"
                            "    rcall('HSET', k_agent(a.id), 'pr', 'not_ready')\n"
                            "    a.pr = 'available'\n"
                            "    error('half-way')\n"
                            "  end\n")
    )  # fmt: skip
    bsvc = RoutingService(broken, clock)
    try:
        await svc.put_queue(QueueConfig(id="q", channels=("voice",), skills={"billing": 1}))
        await bsvc.login(agent("ann"), Presence.AVAILABLE)
        with pytest.raises(Exception, match="half-way"):
            await bsvc.set_presence("ann", Presence.NOT_READY, "boom")
        # the hash says not ready; the broken library's own cache must not offer her
        await bsvc.enqueue(TaskSpec(id="t1", channel="voice", queue="q"))
        assert await bsvc.route() == []
        assert await svc.route() == []
    finally:
        await client.function_delete(broken.function)


async def _offers_after_history(
    client: aioredis.Redis, prefix: str, rebuild_each_time: bool
) -> list[tuple[str, str | None, int]]:
    """One history (ties, levels, a pause and back, a call blocking chats), then eight
    chats routed one by one: (winner, runner-up, eligible) of each."""
    svc, clock, store = service(client, prefix)
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat"), skills={"billing": 1}))
    for aid in ("cara", "ann", "bob", "dan", "eve"):
        await svc.login(agent(aid, level=3 if aid == "dan" else 5), Presence.AVAILABLE)
    clock.advance(5)
    await svc.set_presence("ann", Presence.NOT_READY, "break")
    clock.advance(5)
    await svc.set_presence("ann", Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="v1", channel="voice", queue="q"))
    [v1] = await svc.route()
    await svc.accept(v1.task_id, v1.agent_id)
    out = []
    for i in range(8):
        clock.advance(1)
        await svc.enqueue(TaskSpec(id=f"c{i}", channel="chat", queue="q"))
        if rebuild_each_time:
            await client.delete(store.keys.key("version"))
        offers = await svc.route()
        if not offers:
            out.append(("", None, 0))
            continue
        await svc.accept(offers[0].task_id, offers[0].agent_id)
        events = [json.loads(f[b"e"]) for _, f in await client.xrange(store.keys.events)]
        ex = [e for e in events if e["type"] == "task.offered"][-1]["payload"]["explanation"]
        runner = ex.get("runner_up")
        out.append((offers[0].agent_id, runner and runner["agent"], ex["eligible"]))
    return out


async def test_a_rebuilt_index_orders_agents_as_the_live_one(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    live = await _offers_after_history(client, f"{redis_prefix}:live", False)
    # ann took the call (equal times go by id; her pause did not move her time): chats
    # skip her while it lasts
    assert live[0] == ("bob", "cara", 4)
    assert all(winner != "ann" for winner, _, _ in live)
    assert await _offers_after_history(client, f"{redis_prefix}:rebuilt", True) == live


async def test_the_any_agent_list_is_built_when_first_needed_and_kept_after(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    """Queues without skills read a list of every agent, made the first time one asks."""
    svc, clock, store = service(client, redis_prefix)
    await svc.put_queue(
        QueueConfig(id="skilled", channels=("voice", "chat"), skills={"billing": 1})
    )
    await svc.put_queue(QueueConfig(id="any", channels=("voice", "chat")))
    for aid in ("ann", "bob", "cara"):
        await svc.login(agent(aid), Presence.AVAILABLE)
        clock.advance(1)
    await svc.enqueue(TaskSpec(id="v1", channel="voice", queue="skilled"))
    [v1] = await svc.route()  # ann, on a call: blocked for chats
    await svc.accept(v1.task_id, v1.agent_id)

    async def chat(tid: str) -> dict[str, object]:
        await svc.enqueue(TaskSpec(id=tid, channel="chat", queue="any"))
        [offer] = await svc.route()
        await svc.reject(offer.task_id, offer.agent_id)
        await svc.withdraw(offer.task_id)
        events = [json.loads(f[b"e"]) for _, f in await client.xrange(store.keys.events)]
        ex = [e for e in events if e["type"] == "task.offered"][-1]["payload"]["explanation"]
        return {"agent": offer.agent_id, "eligible": ex["eligible"]}

    assert await chat("c1") == {"agent": "bob", "eligible": 2}  # built now, ann skipped
    clock.advance(1)
    await svc.finish(v1.task_id, v1.agent_id)  # ann free again: kept in the list since
    assert await chat("c2") == {"agent": "ann", "eligible": 3}


async def _random_history(
    client: aioredis.Redis, prefix: str, seed: int, nqueues: int, rebuild_each_time: bool
) -> list[list[tuple[str, str]]]:
    """A random mix of enqueues (equal scores included), routing in small batches with
    tasks left behind, refusals, finished work, priority changes, moves, withdrawals and
    a queue closed and opened: the offers of every routing call."""
    rnd = random.Random(seed)
    svc, clock, store = service(client, prefix)
    queues = tuple(f"q{i}" for i in range(nqueues))
    for q in queues:
        await svc.put_queue(QueueConfig(id=q, channels=("voice",), skills={"billing": 1}))
    for aid, level in (("ann", 3), ("bob", 5), ("cara", 7), ("dan", 3), ("eve", 5), ("fay", 7)):
        await svc.login(AgentConfig(id=aid, skills={"billing": level}, capacity={"voice": 1}))
        await svc.set_presence(aid, Presence.AVAILABLE)
    waiting: dict[str, str] = {}  # task -> queue
    where: dict[str, str] = {}  # every task's queue
    closed: set[str] = set()
    out: list[list[tuple[str, str]]] = []
    for n in range(80 * nqueues):
        if rebuild_each_time:
            await client.delete(store.keys.key("version"))
        op = rnd.random()
        if op < 0.45:
            q = rnd.choice([q for q in queues if q not in closed] or ["q0"])
            if q in closed:
                continue
            tid = f"{rnd.choice('xyzab')}{n}"  # equal scores are ordered by id bytes
            level = rnd.choice((1, 3, 5, 9, 9))  # nobody has 9: such tasks stay behind
            prio = rnd.choice((0, 0, 5)) if nqueues < 10 else rnd.randrange(6)
            await svc.enqueue(TaskSpec(id=tid, channel="voice", queue=q, priority=prio,
                                       skills={"billing": level}))  # fmt: skip
            waiting[tid] = where[tid] = q
            if rnd.random() < 0.6:
                clock.advance(rnd.choice((0.5, 1.0)))  # else the next one ties
        elif op < 0.66:
            offers = await svc.route(limit=rnd.randint(1, 6 if nqueues < 10 else 2))
            out.append([(o.task_id, o.agent_id) for o in offers])
            for o in offers:
                del waiting[o.task_id]
                if rnd.random() < 0.3:
                    await svc.reject(o.task_id, o.agent_id)
                    waiting[o.task_id] = where[o.task_id]
                else:
                    await svc.accept(o.task_id, o.agent_id)
                    await svc.finish(o.task_id, o.agent_id)
            clock.advance(1)
        elif op < 0.76 and waiting:
            await svc.set_priority(rnd.choice(sorted(waiting)), rnd.choice((-5, 0, 10, 20)))
        elif op < 0.84 and waiting:
            tid = rnd.choice(sorted(waiting))
            open_queues = [q for q in queues if q not in closed]
            if not open_queues:
                continue  # a task is moved only into an open queue
            target = rnd.choice(open_queues)
            await svc.move_task(tid, target)
            waiting[tid] = where[tid] = target
        elif op < 0.9 and waiting:
            tid = rnd.choice(sorted(waiting))
            await svc.withdraw(tid, "hangup")
            del waiting[tid]
        else:
            q = rnd.choice(queues)
            await svc.set_queue_open(q, q in closed)
            closed ^= {q}
    return out


@pytest.mark.parametrize(
    ("seed", "nqueues"), [(1, 3), (2, 3), (3, 3), (4, 9), (5, 9), (6, 9), (7, 20), (8, 20), (9, 20)]
)
async def test_random_histories_route_as_with_a_cache_built_before_every_call(
    client: aioredis.Redis, redis_prefix: str, seed: int, nqueues: int
) -> None:
    """What the engine keeps in memory from call to call, and a cache built again from
    Redis before every call, must make the same offers."""
    live = await _random_history(client, f"{redis_prefix}:live", seed, nqueues, False)
    assert sum(len(x) for x in live) > 20  # a history that routes
    assert any(x == [] for x in live)  # and has tasks nobody can take
    rebuilt = await _random_history(client, f"{redis_prefix}:rebuilt", seed, nqueues, True)
    assert rebuilt == live
