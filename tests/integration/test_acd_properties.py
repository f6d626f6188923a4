"""Property-based tests of the routing invariants, on real Redis.

Hypothesis draws sequences of operations (enqueue, log in, pause, route, accept, reject,
finish, let offers time out, let time pass); the event stream is replayed against a simple
model after every sequence.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter, defaultdict
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactcore.acd.model import AgentConfig, Presence, QueueConfig, RelaxationStep, TaskSpec
from contactcore.acd.rules import requirements
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.errors import ContactcoreError
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration

REDIS = "redis://127.0.0.1:6379/0"
_counter = itertools.count()

CAPS = {"voice": 1, "chat": 2, "email": 1}
BLOCKS = {"voice": ("chat", "email")}
REOFFER = 5.0

op = st.one_of(
    st.tuples(st.just("enqueue"), st.sampled_from(["voice", "chat", "email"]), st.integers(0, 1)),
    st.tuples(st.just("login"), st.integers(0, 3)),
    st.tuples(st.just("pause"), st.integers(0, 3)),
    st.tuples(st.just("route"), st.integers(1, 4)),
    st.tuples(st.just("accept"), st.integers(0, 20)),
    st.tuples(st.just("reject"), st.integers(0, 20)),
    st.tuples(st.just("finish"), st.integers(0, 20)),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 3.0, 11.0])),
)


async def _events(client: aioredis.Redis, store: RedisRoutingStore) -> list[dict[str, Any]]:
    return [json.loads(f[b"e"]) for _, f in await client.xrange(store.keys.events)]


async def _run_ops(prefix: str, ops: list[tuple[Any, ...]]) -> None:
    client = aioredis.Redis.from_url(REDIS)
    store = RedisRoutingStore(client, prefix)
    clock = ManualClock()
    svc = RoutingService(store, clock)
    await svc.put_queue(
        QueueConfig(
            id="q",
            channels=("voice", "chat", "email"),
            offer_timeout_s=10,
            reoffer_after_s=REOFFER,
        )
    )
    offered: dict[str, str] = {}
    assigned: dict[str, str] = {}
    n = 0
    try:
        for o in ops:
            kind = o[0]
            try:
                if kind == "enqueue":
                    n += 1
                    await svc.enqueue(
                        TaskSpec(id=f"t{n:04d}", channel=o[1], queue="q", priority=o[2])
                    )
                    clock.advance(0.1)
                elif kind == "login":
                    cfg = AgentConfig(id=f"a{o[1]}", capacity=CAPS, blocks=BLOCKS)
                    await svc.login(cfg, Presence.AVAILABLE)
                elif kind == "pause":
                    await svc.set_presence(f"a{o[1]}", Presence.NOT_READY, "break")
                elif kind == "route":
                    for off in await svc.route(limit=o[1]):
                        offered[off.task_id] = off.agent_id
                elif kind in ("accept", "reject") and offered:
                    tid = sorted(offered)[o[1] % len(offered)]
                    aid = offered.pop(tid)
                    if kind == "accept":
                        await svc.accept(tid, aid)
                        assigned[tid] = aid
                    else:
                        await svc.reject(tid, aid)
                elif kind == "finish" and assigned:
                    tid = sorted(assigned)[o[1] % len(assigned)]
                    await svc.finish(tid, assigned.pop(tid))
                elif kind == "advance":
                    clock.advance(o[1])
                    await svc.tick()
            except ContactcoreError:
                # an offer may have timed out (RONA) before accept/reject: refused, as it must
                offered.clear()
        evs = await _events(client, store)
    finally:
        await client.aclose()
    _check_invariants(evs)


def _check_invariants(evs: list[dict[str, Any]]) -> None:
    load: dict[str, Counter[str]] = defaultdict(Counter)
    holder: dict[str, str] = {}
    times_assigned: Counter[str] = Counter()
    info: dict[str, tuple[float, float, str]] = {}  # task -> (priority, enqueued_at, channel)
    waiting: set[str] = set()
    refused: dict[tuple[str, str], float] = {}
    for ev in evs:
        typ, tid, aid = ev["type"], ev.get("task_id"), ev.get("agent_id")
        p = ev.get("payload", {})
        if typ == "task.enqueued":
            info[tid] = (p["priority"], p["enqueued_at"], p["channel"])
            waiting.add(tid)
        elif typ == "task.offered":
            prio, enq, ch = info[tid]
            assert tid in waiting, "offered while not waiting"
            assert tid not in holder, "offered twice at once"
            # within equal priority the earlier task goes first; a task put back after a
            # refusal competes with its original enqueued-at, i.e. keeps its place
            for other in waiting:
                o_prio, o_enq, o_ch = info[other]
                if other == tid or o_prio != prio or o_ch != ch:
                    continue
                if refused.get((other, aid), -1e18) > ev["at"] - REOFFER:
                    continue  # this agent refused it a moment ago
                assert (o_enq, other) > (enq, tid), f"{other} waited longer than {tid}"
            waiting.discard(tid)
            holder[tid] = aid
            load[aid][ch] += 1
            assert load[aid][ch] <= CAPS[ch], "capacity exceeded"
            for held, blocked in BLOCKS.items():
                assert not (ch in blocked and load[aid][held] > 0), "cross-channel rule broken"
        elif typ in ("task.rejected", "task.rona"):
            assert holder.pop(tid) == aid
            load[aid][p["channel"]] -= 1
            refused[(tid, aid)] = ev["at"]
            waiting.add(tid)
        elif typ == "task.assigned":
            assert holder[tid] == aid
            times_assigned[tid] += 1
            assert times_assigned[tid] == 1, "assigned twice"
        elif typ == "task.completed":
            assert holder.pop(tid) == aid
            load[aid][p["channel"]] -= 1


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=5, max_size=60))
def test_invariants_hold_for_any_sequence(redis_prefix: str, ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run_ops(f"{redis_prefix}:{next(_counter)}", ops))


skills_st = st.dictionaries(st.sampled_from(["x", "y", "z"]), st.integers(1, 10), max_size=3)


async def _run_relaxation(
    prefix: str,
    queue_skills: dict[str, int],
    agents: list[dict[str, int]],
    waits: list[float],
) -> None:
    client = aioredis.Redis.from_url(REDIS)
    store = RedisRoutingStore(client, prefix)
    clock = ManualClock()
    svc = RoutingService(store, clock)
    q = QueueConfig(
        id="q",
        skills=queue_skills,
        relaxation=(
            RelaxationStep(after_s=30, min_level=4),
            RelaxationStep(after_s=90, min_level=1),
        ),
    )
    try:
        await svc.put_queue(q)
        by_id = {}
        for i, sk in enumerate(agents):
            cfg = AgentConfig(id=f"a{i}", skills=sk, capacity={"voice": 5}, blocks={})
            by_id[cfg.id] = cfg
            await svc.login(cfg, Presence.AVAILABLE)
        for i, w in enumerate(waits):
            await svc.enqueue(
                TaskSpec(id=f"t{i}", channel="voice", queue="q", enqueued_at=clock.now() - w)
            )
        for off in await svc.route(limit=50):
            ev = [
                e
                for e in await _events(client, store)
                if e["type"] == "task.offered" and e["task_id"] == off.task_id
            ][-1]
            waited = ev["payload"]["explanation"]["waited"]
            _, req = requirements(q, {}, waited)
            agent = by_id[off.agent_id]
            for skill, level in req.items():
                assert agent.skills.get(skill, 0) >= level, "relaxation offered below the level"
                assert agent.skills.get(skill, 0) >= 1, "offered to an agent without the skill"
    finally:
        await client.aclose()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    queue_skills=skills_st,
    agents=st.lists(skills_st, min_size=1, max_size=6),
    waits=st.lists(st.sampled_from([0.0, 10.0, 45.0, 120.0]), min_size=1, max_size=6),
)
def test_relaxation_never_reaches_an_agent_without_the_skill(
    redis_prefix: str,
    queue_skills: dict[str, int],
    agents: list[dict[str, int]],
    waits: list[float],
) -> None:
    asyncio.run(_run_relaxation(f"{redis_prefix}:{next(_counter)}", queue_skills, agents, waits))
