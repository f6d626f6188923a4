"""The engine's choice of agent against the rules' specification (``rules.choose``).

Hypothesis draws agents with several skills, levels, login times and work in hand on
another channel, a strategy and one to three required skills; the engine's offer, its
runner-up and its count of eligible agents must be exactly what the rules say, whichever
index the engine reads and however many agents come before the winner in it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactcore.acd.model import AgentConfig, Presence, QueueConfig, Strategy, TaskSpec
from contactcore.acd.rules import Candidate, can_take, choose, skills_ok
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration

REDIS = "redis://127.0.0.1:6379/0"
_counter = itertools.count()

SKILLS = ("a", "b", "c", "d")
agent_st = st.fixed_dictionaries(
    {
        "skills": st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=4),
        "chat_capacity": st.integers(1, 3),
        "chat_load": st.integers(0, 3),
    }
)


async def _offered(client: aioredis.Redis, store: RedisRoutingStore, tid: str) -> dict[str, Any]:
    for _, fields in reversed(await client.xrange(store.keys.events)):
        e = json.loads(fields[b"e"])
        if e["type"] == "task.offered" and e["task_id"] == tid:
            return dict(e)
    raise AssertionError(f"no task.offered for {tid}")


async def _check(
    prefix: str, agents: list[dict[str, Any]], strategy: Strategy, required: dict[str, int]
) -> None:
    client = aioredis.Redis.from_url(REDIS)
    store = RedisRoutingStore(client, prefix)
    clock = ManualClock()
    svc = RoutingService(store, clock)
    try:
        await svc.put_queue(QueueConfig(id="q", skills=required, strategy=strategy))
        await svc.put_queue(QueueConfig(id="chats", channels=("chat",)))
        configs: list[AgentConfig] = []
        since: dict[str, float] = {}
        for i, drawn in enumerate(agents):
            # a skill of its own, so that chats can be steered to it
            cfg = AgentConfig(
                id=f"g{i:02d}",
                skills={**drawn["skills"], f"own{i}": 1},
                capacity={"voice": 1, "chat": drawn["chat_capacity"]},
            )
            configs.append(cfg)
            since[cfg.id] = clock.now()  # free on voice since its login
            await svc.login(cfg, Presence.AVAILABLE)
            clock.advance(1)
        loads: dict[str, dict[str, int]] = {}
        for i, cfg in enumerate(configs):
            n = min(agents[i]["chat_load"], cfg.capacity["chat"])
            loads[cfg.id] = {"chat": n}
            for k in range(n):
                tid = f"chat-{cfg.id}-{k}"
                await svc.enqueue(
                    TaskSpec(id=tid, channel="chat", queue="chats", skills={f"own{i}": 1})
                )
            offers = await svc.route(limit=10)
            assert sorted(o.agent_id for o in offers) == [cfg.id] * n
            await svc.accept_many([(o.task_id, o.agent_id) for o in offers])
        clock.advance(1)

        eligible = [
            Candidate(cfg, loads[cfg.id], since[cfg.id])
            for cfg in configs
            if can_take(cfg, loads[cfg.id], "voice") and skills_ok(cfg, required)
        ]
        expected = choose(strategy, eligible, required)
        await svc.enqueue(TaskSpec(id="t", channel="voice", queue="q"))
        offers = await svc.route(limit=1)
        if expected is None:
            assert offers == []
            return
        assert [o.agent_id for o in offers] == [expected.agent.id]
        ex = (await _offered(client, store, "t"))["payload"]["explanation"]
        assert ex["eligible_exact"] is True
        assert ex["eligible"] == len(eligible)
        rest = [c for c in eligible if c is not expected]
        runner = choose(strategy, rest, required)
        if runner is None:
            assert "runner_up" not in ex
        else:
            assert ex["runner_up"]["agent"] == runner.agent.id
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    agents=st.lists(agent_st, min_size=1, max_size=40),
    strategy=st.sampled_from(list(Strategy)),
    required=st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1, max_size=3),
)
def test_the_engine_chooses_as_the_rules_say(
    redis_prefix: str,
    agents: list[dict[str, Any]],
    strategy: Strategy,
    required: dict[str, int],
) -> None:
    asyncio.run(_check(f"{redis_prefix}:{next(_counter)}", agents, strategy, required))


async def test_a_multi_skill_task_finds_the_one_agent_behind_many_with_one_skill(
    redis_prefix: str,
) -> None:
    """Forty agents at the top level of skill a lack skill b; the one who has both wins."""
    await _check(
        redis_prefix,
        [{"skills": {"a": 10}, "chat_capacity": 1, "chat_load": 0}] * 40
        + [{"skills": {"a": 5, "b": 5}, "chat_capacity": 1, "chat_load": 0}],
        Strategy.LONGEST_IDLE,
        {"a": 1, "b": 1},
    )


async def test_least_occupied_prefers_the_idle_agent_over_a_higher_level(
    redis_prefix: str,
) -> None:
    busy = {"skills": {"a": 9, "b": 9}, "chat_capacity": 2, "chat_load": 1}
    idle = {"skills": {"a": 1, "b": 1}, "chat_capacity": 2, "chat_load": 0}
    await _check(redis_prefix, [busy] * 35 + [idle], Strategy.LEAST_OCCUPIED, {"a": 1, "b": 1})
