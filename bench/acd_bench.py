"""ACD routing benchmark on real Redis; prints JSON.

Sets up agents, skills, queues and waiting tasks under a private key prefix, then routes
every task. Routing calls take turns: ``--singles`` calls (3) that make a single decision
each (their time is the latency of one routing decision: ``decision_ms``), then one call
that makes up to ``--batch`` decisions atomically, as the router does under load (the
default is the router's own batch, ``MATCH_LIMIT``; the call's time is
``routing_call_ms``; the batched calls alone give ``decisions_per_s``). After each call
the offers are accepted and finished (to free the agents again) in one pipelined round
trip. Also reported: assignments per second counting everything (end to end), the raw
PING round trip on the same connection for scale, and the time Redis itself spent in the
engine's function calls (INFO commandstats, FCALL) per decision: less noisy than wall
time on a shared machine. With ``--split`` that time is also read around each routing
call, to give the routing part alone (two more round trips per call, outside the timed
routing calls but inside the end-to-end time).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from contactcore.acd.model import AgentConfig, Presence, QueueConfig, Strategy, TaskSpec
from contactcore.acd.service import MATCH_LIMIT, RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.core.clock import SystemClock

CHANNELS = (("voice", 0.6), ("chat", 0.25), ("email", 0.15))


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def ping_rtt(client: aioredis.Redis, n: int) -> dict[str, float]:
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        await client.ping()
        lat.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "per_s": n / (sum(lat) / 1000)}


async def fcall_usec(client: aioredis.Redis) -> tuple[int, float]:
    """(calls, microseconds) of FCALL so far on this Redis (the engine's calls)."""
    stats = (await client.info("commandstats")).get("cmdstat_fcall", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


async def setup(svc: RoutingService, a: argparse.Namespace, rnd: random.Random) -> None:
    skills = [f"s{i}" for i in range(a.skills)]
    for i in range(a.queues):
        await svc.put_queue(
            QueueConfig(
                id=f"q{i}",
                channels=("voice", "chat", "email"),
                skills={skills[i % a.skills]: rnd.randint(1, 5)},
                strategy=Strategy.BEST_SKILL if i % 10 == 0 else Strategy.LONGEST_IDLE,
            )
        )
    per_agent = min(5, a.skills)
    for i in range(a.agents):
        cfg = AgentConfig(
            id=f"a{i}",
            skills={s: rnd.randint(1, 10) for s in rnd.sample(skills, per_agent)},
            capacity={"voice": 1, "chat": 2, "email": 2},
        )
        await svc.login(cfg, Presence.AVAILABLE)
    names = [c for c, _ in CHANNELS]
    weights = [w for _, w in CHANNELS]
    batch: list[TaskSpec] = []
    for i in range(a.tasks):
        batch.append(
            TaskSpec(
                id=f"t{i}",
                channel=rnd.choices(names, weights)[0],
                queue=f"q{rnd.randrange(a.queues)}",
                priority=rnd.choice((0, 0, 0, 10, 20)),
            )
        )
        if len(batch) == 500:
            await svc.enqueue_many(batch)
            batch = []
    if batch:
        await svc.enqueue_many(batch)


@dataclass
class Tally:
    """What the routing loops measured, together."""

    single_ms: list[float] = field(default_factory=list)
    call_ms: list[float] = field(default_factory=list)
    assigned: int = 0
    batched: int = 0
    batch_s: float = 0.0
    route_usec: float = 0.0


async def router(a: argparse.Namespace, client: aioredis.Redis, prefix: str, tally: Tally) -> None:
    """One routing loop: ``--singles`` single-decision calls, then a batched one, and so
    on; after each call the offers are accepted and finished in one round trip."""
    store = RedisRoutingStore(client, prefix)
    clock = SystemClock()
    svc = RoutingService(store, clock, match_limit=a.batch)
    idle_rounds = 0
    turn = 0  # calls made in this round: singles first, then the batch
    while tally.assigned < a.tasks and idle_rounds < 3:
        if a.split:
            before = (await fcall_usec(client))[1]
        t = time.perf_counter()
        was_single = turn < a.singles
        offers = await svc.route(limit=1 if was_single else a.batch)
        dt = time.perf_counter() - t
        if a.split:
            tally.route_usec += (await fcall_usec(client))[1] - before
        turn = (turn + 1) % (a.singles + 1)
        if not offers:
            idle_rounds += 1
            continue
        idle_rounds = 0
        if was_single:
            tally.single_ms.append(dt * 1000)
        else:
            tally.call_ms.append(dt * 1000)
            tally.batch_s += dt
            tally.batched += len(offers)
        tally.assigned += len(offers)
        pairs = [[o.task_id, o.agent_id] for o in offers]
        now = clock.now()
        await store.execute_many(
            [("accept", now, {"offers": pairs}), ("finish", now, {"tasks": pairs})]
        )


async def run(a: argparse.Namespace) -> dict[str, Any]:
    rnd = random.Random(a.seed)
    client = aioredis.Redis.from_url(a.redis_url)
    prefix = a.prefix or f"bench:{uuid.uuid4().hex[:10]}"
    store = RedisRoutingStore(client, prefix)
    svc = RoutingService(store, SystemClock(), match_limit=a.batch)
    clients = [aioredis.Redis.from_url(a.redis_url) for _ in range(a.routers)]
    try:
        ping = await ping_rtt(client, 2000)
        t0 = time.perf_counter()
        await setup(svc, a, rnd)
        setup_s = time.perf_counter() - t0
        # the benchmark's own objects (the workload it built) are left out of Python's
        # collections from here on: scanning them is no part of a routing decision
        gc.collect()
        gc.freeze()
        tally = Tally()
        calls0, usec0 = await fcall_usec(client)
        start = time.perf_counter()
        await asyncio.gather(*(router(a, c, prefix, tally) for c in clients))
        total_s = time.perf_counter() - start
        assigned, single_ms, call_ms = tally.assigned, tally.single_ms, tally.call_ms
        calls1, usec1 = await fcall_usec(client)
        redis_side: dict[str, Any] = {
            "function_calls": calls1 - calls0,
            "us_per_call": (usec1 - usec0) / (calls1 - calls0) if calls1 > calls0 else 0.0,
            "us_per_decision_all": (usec1 - usec0) / assigned if assigned else 0.0,
        }
        if a.split and assigned:
            redis_side["us_per_decision_routing"] = tally.route_usec / assigned
            redis_side["us_per_decision_accept_finish"] = (
                usec1 - usec0 - tally.route_usec
            ) / assigned
        return {
            "agents": a.agents,
            "skills": a.skills,
            "queues": a.queues,
            "tasks": a.tasks,
            "batch": a.batch,
            "assigned": assigned,
            "routers": a.routers,
            # one router: the batched calls' own time; several: everything, wall clock
            "decisions_per_s": (
                (tally.batched / tally.batch_s if tally.batch_s else 0.0)
                if a.routers == 1
                else (assigned / total_s if total_s else 0.0)
            ),
            "assignments_per_s_end_to_end": assigned / total_s if total_s else 0.0,
            "decision_ms": {
                "p50": pct(single_ms, 50),
                "p99": pct(single_ms, 99),
                "mean": statistics.fmean(single_ms) if single_ms else 0.0,
                "calls": len(single_ms),
            },
            "routing_call_ms": {
                "p50": pct(call_ms, 50),
                "p99": pct(call_ms, 99),
                "mean": statistics.fmean(call_ms) if call_ms else 0.0,
                "calls": len(call_ms),
                "decisions": tally.batched,
            },
            "redis_ping_ms": ping,
            "redis_function_time": redis_side,
            "setup_s": setup_s,
        }
    finally:
        for c in clients:
            await c.aclose()
        await cleanup(client, prefix)


async def cleanup(client: aioredis.Redis, prefix: str) -> None:
    """Delete the keys under the prefix and close the connection."""
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for i in range(0, len(keys), 1000):
        await client.delete(*keys[i : i + 1000])
    await client.aclose()


def workload_args(p: argparse.ArgumentParser, redis_url: str) -> None:
    """The workload's options (shared with acd_ab.py)."""
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--skills", type=int, default=50)
    p.add_argument("--queues", type=int, default=100)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument(
        "--batch",
        type=int,
        default=MATCH_LIMIT,
        help=f"decisions per batched routing call (default: {MATCH_LIMIT}, the router's own)",
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--redis-url", default=redis_url)
    p.add_argument("--prefix", default=None, help="key prefix (default: a fresh one)")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    workload_args(p, "redis://127.0.0.1:6379/0")
    p.add_argument(
        "--routers",
        type=int,
        default=1,
        help="routing loops running at once, each with its own connection, as several "
        "contactcore processes would (default: 1). With more than one, decisions_per_s "
        "is every decision over the wall time of the whole run (accepts and finishes "
        "included), and Redis is the limit",
    )
    p.add_argument(
        "--singles",
        type=int,
        default=3,
        help="single-decision calls before each batched call (default: 3; with the "
        "default batch, about 850 of them in a run, for a p99 of decision_ms)",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="also read Redis time around each routing call (one router only)",
    )
    args = p.parse_args(argv)
    if args.split and args.routers != 1:
        p.error(
            "--split needs --routers 1: the time read around a call would include the "
            "other routers' calls"
        )
    if args.routers < 1:
        p.error("--routers must be at least 1")
    return args


def print_json(result: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return print_json(asyncio.run(run(parse(argv))))


if __name__ == "__main__":
    main()
