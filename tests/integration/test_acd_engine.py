"""The routing engine against real Redis, driven by a manual clock."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
import redis.asyncio as aioredis

from contactcore.acd.model import (
    AgentConfig,
    CustomerContext,
    MaxWaitAction,
    Presence,
    QueueConfig,
    RelaxationStep,
    Strategy,
    TaskSpec,
)
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.errors import Conflict, InvalidInput
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(client: aioredis.Redis, redis_prefix: str) -> RedisRoutingStore:
    return RedisRoutingStore(client, redis_prefix)


@pytest.fixture
def svc(store: RedisRoutingStore, clock: ManualClock) -> RoutingService:
    return RoutingService(store, clock)


async def events(client: aioredis.Redis, store: RedisRoutingStore) -> list[dict[str, Any]]:
    return [json.loads(f[b"e"]) for _, f in await client.xrange(store.keys.events)]


def voice(tid: str, queue: str = "q", **kw: Any) -> TaskSpec:
    return TaskSpec(id=tid, channel="voice", queue=queue, **kw)


async def test_longest_idle_assignment_with_explanation(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="q", skills={"billing": 5}))
    await svc.login(AgentConfig(id="ann", skills={"billing": 6}), Presence.AVAILABLE)
    clock.advance(5)
    await svc.login(AgentConfig(id="bob", skills={"billing": 9}), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="cid", skills={"billing": 3}), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    offers = await svc.route()
    assert [(o.task_id, o.agent_id) for o in offers] == [("t1", "ann")]
    await svc.accept("t1", "ann")
    assigned = [e for e in await events(client, store) if e["type"] == "task.assigned"]
    assert len(assigned) == 1
    ex = assigned[0]["payload"]["explanation"]
    assert ex["strategy"] == "longest_idle"
    assert ex["eligible"] == 2  # cid lacks the level
    assert ex["eligible_exact"] is True
    assert ex["winner"]["agent"] == "ann"
    assert ex["runner_up"]["agent"] == "bob"
    assert "longest idle" in ex["why"]


async def test_best_skill_strategy(svc: RoutingService) -> None:
    await svc.put_queue(QueueConfig(id="q", skills={"billing": 5}, strategy=Strategy.BEST_SKILL))
    await svc.login(AgentConfig(id="ann", skills={"billing": 6}), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="bob", skills={"billing": 9}), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    assert [o.agent_id for o in await svc.route()] == ["bob"]


async def test_least_occupied_strategy(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q", channels=("chat",), strategy=Strategy.LEAST_OCCUPIED))
    caps = {"chat": 3}
    await svc.login(AgentConfig(id="ann", capacity=caps), Presence.AVAILABLE)
    clock.advance(1)
    await svc.login(AgentConfig(id="bob", capacity=caps), Presence.AVAILABLE)
    got = []
    for i in range(4):
        await svc.enqueue(TaskSpec(id=f"c{i}", channel="chat", queue="q"))
        got += [o.agent_id for o in await svc.route()]
        clock.advance(1)
    assert got == ["ann", "bob", "ann", "bob"]


async def test_priority_order_and_fifo(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q", aging_s_per_point=0))
    await svc.enqueue(voice("b1", customer=CustomerContext(tier="b")))
    clock.advance(1)
    await svc.enqueue(voice("plain"))
    clock.advance(1)
    await svc.enqueue(voice("vip", customer=CustomerContext(tier="vip")))
    clock.advance(1)
    await svc.enqueue(voice("b2", customer=CustomerContext(tier="b")))
    order = []
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    for _ in range(4):
        (o,) = await svc.route()
        order.append(o.task_id)
        await svc.accept(o.task_id, "a")
        await svc.finish(o.task_id, "a")
    assert order == ["vip", "b1", "b2", "plain"]


async def test_aging_lets_old_low_priority_task_overtake(
    svc: RoutingService, clock: ManualClock
) -> None:
    await svc.put_queue(QueueConfig(id="q", aging_s_per_point=1.0))
    await svc.enqueue(voice("old", priority=0))
    clock.advance(30)  # 30 s of waiting = 30 points
    await svc.enqueue(voice("new", priority=20))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    assert [o.task_id for o in await svc.route()] == ["old"]


async def test_reject_keeps_place_and_goes_to_next_agent(
    svc: RoutingService, clock: ManualClock
) -> None:
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="ann"), Presence.AVAILABLE)
    clock.advance(1)
    await svc.enqueue(voice("t1"))
    clock.advance(1)
    await svc.enqueue(voice("t2"))
    (o,) = await svc.route()
    assert (o.task_id, o.agent_id) == ("t1", "ann")
    await svc.reject("t1", "ann")
    clock.advance(1)
    await svc.login(AgentConfig(id="bob"), Presence.AVAILABLE)
    offers = await svc.route(limit=1)
    # t1 is back at the head, and goes to bob, not to ann who rejected it
    assert [(o.task_id, o.agent_id) for o in offers] == [("t1", "bob")]
    offers = await svc.route()
    assert [(o.task_id, o.agent_id) for o in offers] == [("t2", "ann")]


async def test_rona_makes_agent_not_ready_and_task_keeps_place(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="q", offer_timeout_s=10))
    await svc.login(AgentConfig(id="ann"), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    clock.advance(1)
    await svc.enqueue(voice("t2"))
    await svc.route()
    clock.advance(11)
    assert (await svc.tick())["rona"] == 1
    evs = await events(client, store)
    assert any(e["type"] == "task.rona" and e["task_id"] == "t1" for e in evs)
    assert any(e["type"] == "agent.presence" and e["payload"]["reason"] == "no-answer" for e in evs)
    stats = (await svc.live_numbers())[0]
    assert [t.task_id for t in stats.tasks] == ["t1", "t2"]
    assert stats.agents["not_ready"] == 1
    assert await svc.route() == []
    await svc.set_presence("ann", Presence.AVAILABLE)
    # ann just missed t1, so she gets t2 first; t1 keeps the head for anyone else
    assert [o.task_id for o in await svc.route(limit=1)] == ["t2"]
    await svc.accept("t2", "ann")
    await svc.finish("t2", "ann")
    assert await svc.route() == []
    clock.advance(31)  # after reoffer_after_s she may get it again: nobody starves
    assert [o.task_id for o in await svc.route(limit=1)] == ["t1"]


async def test_cross_channel_rule_and_capacity(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat", "email")))
    await svc.login(
        AgentConfig(id="a", capacity={"voice": 1, "chat": 2, "email": 1}), Presence.AVAILABLE
    )
    await svc.enqueue(voice("v1"))
    for i in range(3):
        clock.advance(1)
        await svc.enqueue(TaskSpec(id=f"c{i}", channel="chat", queue="q"))
    offers = await svc.route()
    assert [o.task_id for o in offers] == ["v1"]  # the call blocks chats
    await svc.accept("v1", "a")
    await svc.finish("v1", "a")
    offers = await svc.route()
    assert [o.task_id for o in offers] == ["c0", "c1"]  # chat capacity 2


async def test_wrapup_then_available_and_early_end(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q", wrapup_s=30))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    for t in ("t1", "t2", "t3"):
        await svc.enqueue(voice(t))
    (o,) = await svc.route()
    await svc.accept(o.task_id, "a")
    await svc.finish(o.task_id, "a")
    assert await svc.route() == []  # in wrap-up
    assert (await svc.live_numbers())[0].agents["wrap_up"] == 1
    clock.advance(31)
    await svc.tick()
    (o,) = await svc.route()
    assert o.task_id == "t2"
    await svc.accept("t2", "a")
    await svc.finish("t2", "a")
    assert await svc.route() == []
    await svc.end_wrapup("a")  # ended early by the agent
    assert [o.task_id for o in await svc.route()] == ["t3"]


async def test_relaxation_steps_and_never_without_skill(
    svc: RoutingService, clock: ManualClock
) -> None:
    q = QueueConfig(
        id="q",
        skills={"billing": 8},
        relaxation=(
            RelaxationStep(after_s=30, min_level=4),
            RelaxationStep(after_s=90, min_level=1),
        ),
    )
    await svc.put_queue(q)
    await svc.login(AgentConfig(id="low", skills={"billing": 2}), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="mid", skills={"billing": 5}), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="none", skills={"sales": 10}), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    assert await svc.route() == []
    clock.advance(31)
    (o,) = await svc.route()
    assert o.agent_id == "mid"
    await svc.enqueue(voice("t2", enqueued_at=clock.now() - 100))
    (o,) = await svc.route()
    assert o.agent_id == "low"  # step 2: any level, but never "none" who lacks billing


async def test_overflow_and_max_wait(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="general"))
    await svc.put_queue(
        QueueConfig(
            id="q",
            skills={"rare": 5},
            relaxation=(RelaxationStep(after_s=60, overflow_to="general"),),
        )
    )
    await svc.put_queue(
        QueueConfig(
            id="m", skills={"rare": 5}, max_wait_s=10, max_wait_action=MaxWaitAction.WITHDRAW
        )
    )
    await svc.enqueue(voice("t1"))
    await svc.enqueue(voice("t2", queue="m"))
    clock.advance(61)
    await svc.tick()
    stats = {s.queue_id: s for s in await svc.live_numbers()}
    assert [t.task_id for t in stats["general"].tasks] == ["t1"]
    assert stats["m"].waiting == 0
    types = [(e["type"], e.get("task_id")) for e in await events(client, store)]
    assert ("task.overflowed", "t1") in types
    assert ("task.withdrawn", "t2") in types


async def test_live_operations(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q", skills={"billing": 5}))
    await svc.put_queue(QueueConfig(id="other"))
    await svc.login(AgentConfig(id="a", skills={"billing": 3}), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    await svc.enqueue(voice("t2"))
    assert await svc.route() == []
    await svc.update_agent(AgentConfig(id="a", skills={"billing": 7}))
    await svc.set_queue_open("q", False)
    assert await svc.route() == []  # closed queue is not routed
    with pytest.raises(Conflict):
        await svc.enqueue(voice("t3"))
    await svc.set_queue_open("q", True)
    await svc.set_priority("t2", 50)
    await svc.set_presence("a", Presence.NOT_READY, "break")
    assert await svc.route() == []
    await svc.set_presence("a", Presence.AVAILABLE)
    (o,) = await svc.route()
    assert o.task_id == "t2"
    await svc.move_task("t1", "other")
    stats = {s.queue_id: s for s in await svc.live_numbers()}
    assert stats["q"].waiting == 0
    assert stats["other"].waiting == 1
    await svc.withdraw("t1", "hangup")
    assert (await svc.live_numbers())[1].waiting == 0


async def test_priority_change_reorders_queues_at_once(
    svc: RoutingService, clock: ManualClock
) -> None:
    """A raised priority takes effect at the next decision across queues, not only
    within the task's own queue."""
    for q in ("q1", "q2"):
        await svc.put_queue(QueueConfig(id=q))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    await svc.enqueue(voice("t1", queue="q1"))
    clock.advance(1)
    await svc.enqueue(voice("t2", queue="q2"))
    clock.advance(1)
    await svc.enqueue(voice("t3", queue="q2"))
    await svc.set_priority("t3", 10)
    (o,) = await svc.route(limit=1)
    assert o.task_id == "t3"
    await svc.set_priority("t2", 20)
    await svc.accept(o.task_id, o.agent_id)
    await svc.finish(o.task_id, o.agent_id)
    (o,) = await svc.route(limit=1)
    assert o.task_id == "t2"
    # lowered below the other queue's head: that queue goes first
    await svc.accept(o.task_id, o.agent_id)
    await svc.finish(o.task_id, o.agent_id)
    await svc.enqueue(voice("t4", queue="q2", priority=5))
    await svc.set_priority("t4", -5)
    (o,) = await svc.route(limit=1)
    assert o.task_id == "t1"


async def test_batches_serve_the_best_tasks_across_many_queues(
    svc: RoutingService, clock: ManualClock
) -> None:
    """Each routing call takes the waiting tasks in global order (priority, then
    enqueued-at) whichever of 31 queues they wait in, batch after batch, while the
    queues' heads change under it (new tasks, priority changes)."""
    rnd = random.Random(5)
    queues = [f"q{i:02d}" for i in range(31)]
    for q in queues:
        await svc.put_queue(QueueConfig(id=q))
    for i in range(8):
        await svc.login(AgentConfig(id=f"a{i}"), Presence.AVAILABLE)
    waiting: dict[str, tuple[float, float]] = {}  # task -> (-priority, enqueued-at)
    n = 0

    async def add(count: int) -> None:
        nonlocal n
        for _ in range(count):
            clock.advance(0.25)
            prio = rnd.randrange(5)
            await svc.enqueue(voice(f"t{n}", queue=rnd.choice(queues), priority=prio))
            waiting[f"t{n}"] = (-prio, clock.now())
            n += 1

    await add(120)
    while waiting:
        limit = rnd.randint(1, 8)
        offers = await svc.route(limit=limit)
        best = sorted(waiting, key=waiting.__getitem__)[:limit]
        assert [o.task_id for o in offers] == best
        for o in offers:
            del waiting[o.task_id]
            await svc.accept(o.task_id, o.agent_id)
            await svc.finish(o.task_id, o.agent_id)
        if n < 240:
            await add(rnd.randint(0, 6))
        if waiting and rnd.random() < 0.3:
            tid = rnd.choice(sorted(waiting))
            prio = rnd.randrange(6)
            await svc.set_priority(tid, prio)
            waiting[tid] = (-prio, waiting[tid][1])


async def test_ewt_from_departures(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    for i in range(10):
        await svc.enqueue(voice(f"t{i}"))
    for _ in range(5):  # one departure every 60 s
        (o,) = await svc.route()
        await svc.accept(o.task_id, "a")
        clock.advance(60)
        await svc.finish(o.task_id, "a")
        await svc.set_presence("a", Presence.NOT_READY, "hold")
        await svc.set_presence("a", Presence.AVAILABLE)
        if _ < 4:
            continue
    await svc.set_presence("a", Presence.NOT_READY, "hold")
    clock.advance(-50)  # look 10 s after the last departure
    stats = (await svc.live_numbers())[0]
    assert stats.ewt_method == "departure-gap"
    ewts = [t.ewt_s for t in stats.tasks]
    assert ewts[0] == pytest.approx(60 - 10, abs=1)
    assert ewts[1] == pytest.approx(120 - 10, abs=1)


async def test_router_loop_routes_until_stopped(svc: RoutingService, clock: ManualClock) -> None:
    await svc.put_queue(QueueConfig(id="q", offer_timeout_s=5))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    stop = asyncio.Event()
    router = asyncio.create_task(svc.run(stop, tick_s=0.0, idle_s=0.01))
    for _ in range(200):
        if (await svc.live_numbers())[0].waiting == 0:
            break
        await asyncio.sleep(0.01)
    clock.advance(6)  # the offer times out: RONA by the loop's tick, task back in place
    for _ in range(200):
        if (await svc.live_numbers())[0].waiting == 1:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await router
    stats = (await svc.live_numbers())[0]
    assert [t.task_id for t in stats.tasks] == ["t1"]
    assert stats.agents["not_ready"] == 1


async def test_max_wait_notifies_each_task_once(
    svc: RoutingService,
    clock: ManualClock,
    client: aioredis.Redis,
    store: RedisRoutingStore,
) -> None:
    await svc.put_queue(QueueConfig(id="q", skills={"rare": 5}, max_wait_s=10))
    for i in range(3):
        await svc.enqueue(voice(f"t{i}"))
        clock.advance(1)
    clock.advance(20)
    for _ in range(4):  # one task per tick: the earlier ones must not hide the later ones
        await store.execute("tick", clock.now(), {"limit": 1})
    notified = [
        e["task_id"] for e in await events(client, store) if e["type"] == "task.max_wait_reached"
    ]
    assert notified == ["t0", "t1", "t2"]
    assert (await svc.live_numbers())[0].waiting == 3


async def test_no_answer_reported_by_the_channel(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="ann"), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    clock.advance(1)
    await svc.enqueue(voice("t2"))
    (o,) = await svc.route(limit=1)
    await svc.no_answer(o.task_id, "ann")
    stats = (await svc.live_numbers())[0]
    assert [t.task_id for t in stats.tasks] == ["t1", "t2"]
    assert stats.agents["not_ready"] == 1
    with pytest.raises(Conflict):
        await svc.accept("t1", "ann")  # the offer is gone
    assert any(e["type"] == "task.rona" for e in await events(client, store))


@pytest.mark.parametrize("agents", [4, 70])  # a short index read whole, a long one paged
async def test_agents_on_a_call_are_skipped_for_chats_and_not_counted(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore,
    agents: int,
) -> None:  # fmt: skip
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat"), skills={"billing": 2}))
    caps = {"voice": 1, "chat": 2}
    for i in range(agents):
        # one level: one band of the index, read in pages past the blocked agents
        cfg = AgentConfig(id=f"a{i:02d}", skills={"billing": 5}, capacity=caps)
        await svc.login(cfg, Presence.AVAILABLE)
        clock.advance(1)
    on_call = agents - 2  # the longest idle ones take the calls
    for i in range(on_call):
        await svc.enqueue(voice(f"v{i}"))
    offers = await svc.route(limit=on_call)
    assert sorted(o.agent_id for o in offers) == [f"a{i:02d}" for i in range(on_call)]
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    [offer] = await svc.route()
    assert offer.agent_id == f"a{on_call:02d}"  # the longest idle of those free
    ex = [e for e in await events(client, store) if e["type"] == "task.offered"][-1]
    explanation = ex["payload"]["explanation"]
    assert (explanation["eligible"], explanation["eligible_exact"]) == (2, True)
    assert explanation["runner_up"]["agent"] == f"a{on_call + 1:02d}"
    # the calls end: nobody is blocked any more, and the chat index counts them again
    await svc.accept_many([(o.task_id, o.agent_id) for o in offers])
    await svc.finish_many([(o.task_id, o.agent_id) for o in offers])
    await svc.enqueue(TaskSpec(id="c2", channel="chat", queue="q"))
    await svc.route()
    ex = [e for e in await events(client, store) if e["type"] == "task.offered"][-1]
    assert ex["payload"]["explanation"]["eligible"] == agents  # with one chat, room for one more


async def test_explanation_is_valid_json_for_any_names(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """The explanation is written as JSON text by hand: names needing escapes survive."""
    skill, agent = 'billing "gold"\\ü', 'o"neil\\\n'
    await svc.put_queue(QueueConfig(id='q "1"', skills={skill: 2}))
    await svc.login(AgentConfig(id=agent, skills={skill: 7}), Presence.AVAILABLE)
    clock.advance(1)
    runner = "b/\t"
    await svc.login(AgentConfig(id=runner, skills={skill: 9}), Presence.AVAILABLE)
    await svc.enqueue(voice('t "1"', queue='q "1"'))
    [offer] = await svc.route()
    assert offer.agent_id == agent
    [ev] = [e for e in await events(client, store) if e["type"] == "task.offered"]
    assert (ev["task_id"], ev["agent_id"], ev["queue_id"]) == ('t "1"', agent, 'q "1"')
    ex = ev["payload"]["explanation"]
    assert ex["required"] == {skill: 2}
    assert ex["winner"]["agent"] == agent
    assert ex["winner"]["level"] == 7
    assert ex["eligible"] == 2
    assert ex["eligible_exact"] is True
    assert ex["runner_up"]["agent"] == runner
    assert ex["why"].endswith(f"({runner})")


async def test_longest_idle_across_many_level_bands(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """More eligible agents than are read whole: the index is read band by band, each band
    only for agents idle longer than the runner-up so far; the two longest idle win."""
    await svc.put_queue(QueueConfig(id="q", skills={"s": 3}))
    order = [(i * 7) % 80 for i in range(80)]  # login order unrelated to the level
    for n, i in enumerate(order):
        level = 1 + i % 10
        await svc.login(AgentConfig(id=f"a{i:02d}", skills={"s": level}), Presence.AVAILABLE)
        clock.advance(1 + n % 3)
    eligible = [f"a{i:02d}" for i in order if 1 + i % 10 >= 3]
    for k in range(3):
        await svc.enqueue(voice(f"t{k}"))
        [offer] = await svc.route()
        ex = [e for e in await events(client, store) if e["type"] == "task.offered"][-1]
        explanation = ex["payload"]["explanation"]
        assert offer.agent_id == eligible[k]
        assert explanation["runner_up"]["agent"] == eligible[k + 1]
        assert explanation["eligible"] == len(eligible) - k


async def test_reopened_queue_and_shared_settings_after_changes(
    svc: RoutingService, clock: ManualClock
) -> None:
    """Decoded queue and agent settings are kept per JSON text across calls: closing a
    queue, reopening it (the same text again) and changing one of two agents with the
    same skills must each be seen by the next decision."""
    await svc.put_queue(QueueConfig(id="q", skills={"billing": 5}))
    for aid in ("a", "b"):
        await svc.login(AgentConfig(id=aid, skills={"billing": 6}), Presence.AVAILABLE)
        clock.advance(1)
    await svc.enqueue(voice("t1"))
    await svc.set_queue_open("q", False)
    assert await svc.route() == []
    await svc.set_queue_open("q", True)
    (o,) = await svc.route()
    await svc.reject(o.task_id, o.agent_id)
    # "a" was offered t1 and refused it; now "b" loses the skill: nobody is left
    assert o.agent_id == "a"
    await svc.update_agent(AgentConfig(id="b", skills={"sales": 6}))
    assert await svc.route() == []
    await svc.update_agent(AgentConfig(id="b", skills={"billing": 6}))
    (o2,) = await svc.route()
    assert (o2.task_id, o2.agent_id) == ("t1", "b")


async def test_tasks_nobody_can_take_do_not_block_those_behind_them(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """Forty callers who need a language nobody speaks wait at the head of a queue; the
    caller behind them whom a free agent can serve is offered in the same routing call,
    and the forty cost one search, not forty."""
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="ann", skills={"en": 5}), Presence.AVAILABLE)
    for i in range(40):
        await svc.enqueue(voice(f"fi{i:02d}", skills={"fi": 3}))
        clock.advance(1)
    await svc.enqueue(voice("en1", skills={"en": 1}))
    res = await store.execute("match", clock.now(), {"limit": 8})
    assert [o[:2] for o in res["offers"]] == [["en1", "ann"]]
    assert res["examined"] == 2  # one search for the first "fi" caller, one for "en1"
    assert res["skipped"] == 39
    # the forty keep their places
    stats = {q.queue_id: q for q in await svc.live_numbers()}
    assert [p.task_id for p in stats["q"].tasks] == [f"fi{i:02d}" for i in range(40)]


async def test_a_task_refused_by_one_agent_is_searched_for_on_its_own(
    svc: RoutingService, clock: ManualClock
) -> None:
    """A task with refusals is never skipped on the strength of another task's failed
    search (its own exclusions differ), and a failed search with refusals never marks
    the others."""
    await svc.put_queue(QueueConfig(id="q", skills={"s": 1}))
    await svc.login(AgentConfig(id="ann", skills={"s": 5}), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    clock.advance(1)
    await svc.enqueue(voice("t2"))
    [first] = await svc.route()
    assert (first.task_id, first.agent_id) == ("t1", "ann")
    await svc.reject("t1", "ann")
    # t1 (refused by ann) finds nobody; t2, same requirements, still goes to ann
    offers = await svc.route()
    assert [(o.task_id, o.agent_id) for o in offers] == [("t2", "ann")]


async def test_overflow_never_goes_round_in_circles(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """A overflows to B and B to A: a task goes from A to B once, and stays there."""
    for q, to in (("A", "B"), ("B", "A")):
        await svc.put_queue(
            QueueConfig(id=q, relaxation=(RelaxationStep(after_s=10, overflow_to=to),))
        )
    await svc.enqueue(voice("t", queue="A"))
    for _ in range(6):
        clock.advance(11)
        await svc.tick()
    moves = [
        (e["payload"]["from_queue"], e["queue_id"])
        for e in await events(client, store)
        if e["type"] == "task.overflowed"
    ]
    assert moves == [("A", "B")]
    stats = {s.queue_id: s.waiting for s in await svc.live_numbers()}
    assert stats == {"A": 0, "B": 1}


async def test_overflow_waits_for_a_target_that_is_open_and_takes_the_channel(
    svc: RoutingService, clock: ManualClock
) -> None:
    await svc.put_queue(QueueConfig(id="voice_only"))
    await svc.put_queue(QueueConfig(id="later", channels=("chat",), open=False))
    for q, to in (("c", "voice_only"), ("d", "later")):
        await svc.put_queue(
            QueueConfig(
                id=q, channels=("chat",), relaxation=(RelaxationStep(after_s=5, overflow_to=to),)
            )
        )
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="c"))
    await svc.enqueue(TaskSpec(id="d1", channel="chat", queue="d"))
    clock.advance(6)
    await svc.tick()
    waiting = {s.queue_id: [t.task_id for t in s.tasks] for s in await svc.live_numbers()}
    assert waiting["c"] == ["c1"]  # a voice-only queue takes no chat
    assert waiting["d"] == ["d1"]  # closed
    await svc.set_queue_open("later", True)
    clock.advance(31)  # tried again after 30 s
    await svc.tick()
    waiting = {s.queue_id: [t.task_id for t in s.tasks] for s in await svc.live_numbers()}
    assert (waiting["d"], waiting["later"], waiting["c"]) == ([], ["d1"], ["c1"])


async def test_a_task_is_moved_only_into_an_open_queue_that_takes_its_channel(
    svc: RoutingService,
) -> None:
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat")))
    await svc.put_queue(QueueConfig(id="closed", open=False))
    await svc.put_queue(QueueConfig(id="chats", channels=("chat",)))
    await svc.enqueue(voice("t1"))
    with pytest.raises(Conflict, match="queue_closed"):
        await svc.move_task("t1", "closed")
    with pytest.raises(InvalidInput, match="channel_not_taken"):
        await svc.move_task("t1", "chats")
    stats = {s.queue_id: s.waiting for s in await svc.live_numbers()}
    assert stats == {"q": 1, "closed": 0, "chats": 0}


async def test_max_wait_reaches_tasks_that_come_back_with_an_older_enqueued_time(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """A callback keeps the caller's enqueued-at, and a task put back keeps its own: each is
    still told once that it reached the maximum wait, after later ones were."""
    await svc.put_queue(QueueConfig(id="q", skills={"rare": 5}, max_wait_s=100))
    await svc.put_queue(QueueConfig(id="other", skills={"rare": 5}))
    start = clock.now()
    await svc.enqueue(voice("old", queue="other"))
    clock.advance(50)
    await svc.enqueue(voice("new"))
    clock.advance(60)
    await svc.tick()  # "new" has waited 60 s: nothing yet
    clock.advance(50)
    await svc.tick()  # "new" has waited 110 s
    await svc.move_task("old", "q")  # waited 160 s already
    await svc.enqueue(voice("cb", enqueued_at=start - 10))
    await svc.tick()
    clock.advance(1)
    await svc.tick()
    notified = [
        e["task_id"] for e in await events(client, store) if e["type"] == "task.max_wait_reached"
    ]
    assert notified == ["new", "old", "cb"] or notified == ["new", "cb", "old"]
    assert sorted(notified) == sorted(set(notified))  # once each


async def test_a_refused_offer_is_no_departure_for_the_wait_estimate(
    svc: RoutingService, clock: ManualClock
) -> None:
    await svc.put_queue(QueueConfig(id="q", reoffer_after_s=0))
    await svc.login(AgentConfig(id="a"), Presence.AVAILABLE)
    for i in range(3):
        await svc.enqueue(voice(f"t{i}"))
    for _ in range(6):  # six offers of t0, each refused: nobody was served
        (o,) = await svc.route(limit=1)
        assert o.task_id == "t0"
        clock.advance(10)
        await svc.reject("t0", "a")
        clock.advance(1)
    stats = (await svc.live_numbers())[0]
    assert stats.ewt_method != "departure-gap"
    assert [t.task_id for t in stats.tasks] == ["t0", "t1", "t2"]


async def test_an_agent_who_logs_out_with_work_in_hand_is_gone_when_it_is_done(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="q", channels=("voice", "chat"), wrapup_s=30))
    caps = {"voice": 1, "chat": 2}
    await svc.login(AgentConfig(id="ann", capacity=caps), Presence.AVAILABLE)
    await svc.login(AgentConfig(id="bob", capacity=caps), Presence.AVAILABLE)
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="q"))
    await svc.enqueue(TaskSpec(id="c2", channel="chat", queue="q"))
    offers = {o.agent_id: o.task_id for o in await svc.route()}
    for agent, task in offers.items():
        await svc.accept(task, agent)
        await svc.set_presence(agent, Presence.OFFLINE)
    assert sorted(a.agent_id for a in await svc.live_agents()) == ["ann", "bob"]  # work in hand
    # ann finishes (and wraps up); bob logs in again before he has finished
    await svc.finish(offers["ann"], "ann")
    await svc.login(AgentConfig(id="bob", capacity=caps))
    clock.advance(31)
    await svc.tick()
    agents = {a.agent_id: a for a in await svc.live_agents()}
    assert list(agents) == ["bob"]
    assert agents["bob"].presence is Presence.NOT_READY
    logouts = [e["agent_id"] for e in await events(client, store) if e["type"] == "agent.logout"]
    assert logouts == ["ann"]


async def test_tasks_waiting_without_timers_get_them_at_the_next_tick(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """Tasks left waiting by an engine that kept no timers (an upgrade) still overflow."""
    await svc.put_queue(QueueConfig(id="general"))
    await svc.put_queue(
        QueueConfig(id="q", skills={"rare": 5},
                    relaxation=(RelaxationStep(after_s=60, overflow_to="general"),))
    )  # fmt: skip
    await svc.enqueue(voice("t1"))
    await client.delete(store.keys.key("timers"), store.keys.key("timers_armed"))
    clock.advance(61)
    assert (await svc.tick())["waits"] == 1
    stats = {s.queue_id: [t.task_id for t in s.tasks] for s in await svc.live_numbers()}
    assert stats == {"general": ["t1"], "q": []}


async def test_a_changed_overflow_delay_applies_to_the_tasks_already_waiting(
    svc: RoutingService, clock: ManualClock
) -> None:
    await svc.put_queue(QueueConfig(id="general"))
    slow = QueueConfig(
        id="q", skills={"rare": 5}, relaxation=(RelaxationStep(after_s=600, overflow_to="general"),)
    )
    await svc.put_queue(slow)
    await svc.enqueue(voice("t1"))
    clock.advance(61)
    assert (await svc.tick())["waits"] == 0
    await svc.put_queue(
        slow.model_copy(update={"relaxation": (RelaxationStep(after_s=60, overflow_to="general"),)})
    )
    assert (await svc.tick())["waits"] == 1


async def test_a_timer_of_the_queue_left_does_not_fire_in_the_queue_overflowed_to(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """Both timers of q1 are due at one tick (the task came back from a missed offer): the
    overflow to q2 comes first, and q2's own maximum wait (600 s) is what counts then."""
    await svc.put_queue(
        QueueConfig(id="q2", max_wait_s=600, max_wait_action=MaxWaitAction.WITHDRAW)
    )
    await svc.put_queue(
        QueueConfig(id="q1", skills={"x": 1}, max_wait_s=60, offer_timeout_s=20,
                    relaxation=(RelaxationStep(after_s=30, overflow_to="q2"),))
    )  # fmt: skip
    await svc.enqueue(voice("t1", queue="q1"))
    clock.advance(25)
    await svc.login(AgentConfig(id="ann", skills={"x": 5}), Presence.AVAILABLE)
    assert [o.task_id for o in await svc.route()] == ["t1"]
    await svc.set_presence("ann", Presence.NOT_READY, "gone")  # ... the offer rings out
    clock.advance(50)
    await svc.tick()  # RONA: t1 back in q1, both its timers past due
    await svc.tick()
    stats = {s.queue_id: [t.task_id for t in s.tasks] for s in await svc.live_numbers()}
    assert stats == {"q1": [], "q2": ["t1"]}
    types = [e["type"] for e in await events(client, store) if e.get("task_id") == "t1"]
    assert "task.withdrawn" not in types
    assert "task.max_wait_reached" not in types


async def test_each_queue_has_its_own_maximum_wait(
    svc: RoutingService, clock: ManualClock, client: aioredis.Redis, store: RedisRoutingStore
) -> None:
    """Told at q1's maximum wait, then overflowed: q2 withdraws it at its own."""
    await svc.put_queue(
        QueueConfig(id="q2", skills={"x": 1}, max_wait_s=100,
                    max_wait_action=MaxWaitAction.WITHDRAW)
    )  # fmt: skip
    await svc.put_queue(
        QueueConfig(id="q1", skills={"x": 1}, max_wait_s=30,
                    relaxation=(RelaxationStep(after_s=40, overflow_to="q2"),))
    )  # fmt: skip
    await svc.enqueue(voice("t1", queue="q1"))
    for _ in range(15):
        clock.advance(10)
        await svc.tick()
    types = [e["type"] for e in await events(client, store) if e.get("task_id") == "t1"]
    assert types == [
        "task.enqueued", "task.max_wait_reached", "task.overflowed", "task.withdrawn"
    ]  # fmt: skip


async def test_a_backlog_nobody_can_take_in_one_queue_leaves_the_others_their_turn(
    svc: RoutingService, clock: ManualClock, store: RedisRoutingStore
) -> None:
    """600 calls wait with no voice agent on duty; a later chat has a free chat agent."""
    await svc.put_queue(QueueConfig(id="V"))
    await svc.put_queue(QueueConfig(id="C", channels=("chat",)))
    await svc.login(AgentConfig(id="cat", capacity={"chat": 1}), Presence.AVAILABLE)
    await svc.enqueue_many([voice(f"v{i:03d}", queue="V") for i in range(600)])
    clock.advance(1)
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="C"))
    res = await store.execute("match", clock.now(), {"limit": 32})
    assert [o[:2] for o in res["offers"]] == [["c1", "cat"]]
    assert res["skipped"] <= 128


async def test_a_routing_call_with_every_agent_busy_looks_at_nothing(
    svc: RoutingService, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="ann"), Presence.AVAILABLE)
    await svc.enqueue_many([voice(f"t{i}") for i in range(50)])
    [offer] = await svc.route()
    await svc.accept(offer.task_id, "ann")
    res = await store.execute("match", 1.0e9, {"limit": 32})
    assert res == {"offers": [], "examined": 0, "skipped": 0}
    await svc.finish(offer.task_id, "ann")
    assert len(await svc.route()) == 1  # room again: routing goes on


async def test_no_offer_while_a_process_refills_the_routing_state(
    svc: RoutingService, store: RedisRoutingStore
) -> None:
    await svc.put_queue(QueueConfig(id="q"))
    await svc.login(AgentConfig(id="ann"), Presence.AVAILABLE)
    await svc.enqueue(voice("t1"))
    assert await store.claim_rebuild("other-process", 5.0)
    assert await svc.route() == []
    await store.release_rebuild("other-process")
    assert [o.task_id for o in await svc.route()] == ["t1"]


async def test_an_overflow_into_a_queue_not_created_yet_is_tried_again(
    svc: RoutingService, clock: ManualClock
) -> None:
    await svc.put_queue(
        QueueConfig(id="q", skills={"x": 1},
                    relaxation=(RelaxationStep(after_s=10, overflow_to="later"),))
    )  # fmt: skip
    await svc.enqueue(voice("t1"))
    clock.advance(11)
    await svc.tick()
    await svc.put_queue(QueueConfig(id="later"))
    clock.advance(31)
    await svc.tick()
    stats = {s.queue_id: [t.task_id for t in s.tasks] for s in await svc.live_numbers()}
    assert stats == {"q": [], "later": ["t1"]}
