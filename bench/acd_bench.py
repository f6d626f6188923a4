"""ACD routing benchmark on real Redis; prints JSON.

Sets up agents, skills, queues and waiting tasks under a private key prefix, then routes
every task. Routing calls take turns: ``--singles`` calls (3) that make a single decision
each (their time is the latency of one routing decision: ``decision_ms``), then one call
that makes up to ``--batch`` decisions atomically, as the router does under load (the
default is the router's own batch, ``MATCH_LIMIT``; the call's time is
``routing_call_ms``). After each routing call its offers are accepted (one call: the
tasks are then assigned) and finished (one more call, to free the agents for the next
tasks), each timed on its own. Figures, from the batched calls:

- ``decisions_per_s``: routing decisions (offers) per second of routing calls;
- ``assignments_per_s``: tasks offered *and accepted* per second of routing and accept
  calls: an assignment is complete when the agent has accepted the offer;
- ``full_cycle_per_s``: the same with the finish calls' time too (offer, accept,
  finish: what one Redis sustains when every task is also completed at once).

Also reported: everything over the whole run's wall time, single-decision calls included
(``assignments_per_s_end_to_end``), the raw PING round trip on the same connection for
scale, and the time Redis itself spent in the engine's function calls (INFO
commandstats, FCALL) per decision: less noisy than wall time on a shared machine. With
``--split`` that time is also read around each call, to give routing, accept and finish
apart (more round trips, outside the timed calls but inside the end-to-end time).
``--repeat N`` runs the whole benchmark N times (each on fresh keys) and prints every
run and the median of each figure: on a shared machine one run is not a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable
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
    # time of the batched calls and of the accept and finish calls of their offers
    route_s: float = 0.0
    accept_s: float = 0.0
    finish_s: float = 0.0
    # Redis time of the engine's calls (with --split), all routing calls
    usec: dict[str, float] = field(
        default_factory=lambda: {"routing": 0.0, "accept": 0.0, "finish": 0.0}
    )


async def router(a: argparse.Namespace, client: aioredis.Redis, prefix: str, tally: Tally) -> None:
    """One routing loop: ``--singles`` single-decision calls, then a batched one, and so
    on; after each call its offers are accepted in one call, then finished in another."""
    svc = RoutingService(RedisRoutingStore(client, prefix), SystemClock(), match_limit=a.batch)
    idle_rounds = 0
    turn = 0  # calls made in this round: singles first, then the batch

    async def timed(part: str, call: Awaitable[Any]) -> tuple[Any, float]:
        before = (await fcall_usec(client))[1] if a.split else 0.0
        t = time.perf_counter()
        out = await call
        dt = time.perf_counter() - t
        if a.split:
            tally.usec[part] += (await fcall_usec(client))[1] - before
        return out, dt

    while tally.assigned < a.tasks and idle_rounds < 3:
        was_single = turn < a.singles
        offers, route_dt = await timed("routing", svc.route(limit=1 if was_single else a.batch))
        turn = (turn + 1) % (a.singles + 1)
        if not offers:
            idle_rounds += 1
            continue
        idle_rounds = 0
        pairs = [(o.task_id, o.agent_id) for o in offers]
        _, accept_dt = await timed("accept", svc.accept_many(pairs))
        _, finish_dt = await timed("finish", svc.finish_many(pairs))
        tally.assigned += len(offers)
        if was_single:
            tally.single_ms.append(route_dt * 1000)
            continue
        tally.call_ms.append(route_dt * 1000)
        tally.batched += len(offers)
        tally.route_s += route_dt
        tally.accept_s += accept_dt
        tally.finish_s += finish_dt


def per_s(n: int, seconds: float) -> float:
    return n / seconds if seconds else 0.0


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "p50": pct(values, 50),
        "p99": pct(values, 99),
        "mean": statistics.fmean(values) if values else 0.0,
        "calls": len(values),
    }


async def run(a: argparse.Namespace) -> dict[str, Any]:
    rnd = random.Random(a.seed)
    client = aioredis.Redis.from_url(a.redis_url)
    prefix = a.prefix or f"bench:{uuid.uuid4().hex[:10]}"
    svc = RoutingService(RedisRoutingStore(client, prefix), SystemClock(), match_limit=a.batch)
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
        gc.unfreeze()
        assigned, batched = tally.assigned, tally.batched
        calls1, usec1 = await fcall_usec(client)
        redis_side: dict[str, Any] = {
            "function_calls": calls1 - calls0,
            "us_per_call": (usec1 - usec0) / (calls1 - calls0) if calls1 > calls0 else 0.0,
            "us_per_decision_all": (usec1 - usec0) / assigned if assigned else 0.0,
        }
        if a.split and assigned:
            for part, usec in tally.usec.items():
                redis_side[f"us_per_decision_{part}"] = usec / assigned
        if a.routers == 1:
            # the batched calls' own time
            rates = {
                "decisions_per_s": per_s(batched, tally.route_s),
                "assignments_per_s": per_s(batched, tally.route_s + tally.accept_s),
                "full_cycle_per_s": per_s(batched, tally.route_s + tally.accept_s + tally.finish_s),
            }
        else:
            # several loops overlap: everything over the wall time of the whole run
            every = per_s(assigned, total_s)
            rates = dict.fromkeys(
                ("decisions_per_s", "assignments_per_s", "full_cycle_per_s"), every
            )
        return {
            "agents": a.agents,
            "skills": a.skills,
            "queues": a.queues,
            "tasks": a.tasks,
            "batch": a.batch,
            "assigned": assigned,
            "routers": a.routers,
            **rates,
            "assignments_per_s_end_to_end": per_s(assigned, total_s),
            "decision_ms": spread(tally.single_ms),
            "routing_call_ms": spread(tally.call_ms) | {"decisions": batched},
            "redis_ping_ms": ping,
            "redis_function_time": redis_side,
            "setup_s": setup_s,
        }
    finally:
        for c in clients:
            await c.aclose()
        await cleanup(client, prefix)


MEDIAN_OF = (
    ("decisions_per_s",),
    ("assignments_per_s",),
    ("full_cycle_per_s",),
    ("assignments_per_s_end_to_end",),
    ("decision_ms", "p50"),
    ("decision_ms", "p99"),
    ("routing_call_ms", "p99"),
    ("redis_ping_ms", "p99_ms"),
    ("redis_function_time", "us_per_decision_all"),
)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median (and the range) of the main figures over several runs."""
    out: dict[str, Any] = {}
    for path in MEDIAN_OF:
        values = []
        for r in runs:
            v: Any = r
            for k in path:
                v = v[k]
            values.append(float(v))
        out[".".join(path)] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
    return out


async def repeated(a: argparse.Namespace) -> dict[str, Any]:
    if a.repeat == 1:
        return await run(a)
    runs = []
    for i in range(a.repeat):
        runs.append(await run(a))
        print(f"acd_bench: run {i + 1}/{a.repeat} done", file=sys.stderr, flush=True)
    return {"runs": runs, "summary": summary(runs)}


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
        "--repeat",
        type=int,
        default=1,
        help="run the whole benchmark N times on fresh keys; prints every run and the "
        "median, minimum and maximum of each main figure (default: 1)",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="also read Redis time around each routing, accept and finish call, to give "
        "their parts of us_per_decision (one router only)",
    )
    args = p.parse_args(argv)
    if args.split and args.routers != 1:
        p.error(
            "--split needs --routers 1: the time read around a call would include the "
            "other routers' calls"
        )
    if args.routers < 1:
        p.error("--routers must be at least 1")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.repeat > 1 and args.prefix:
        p.error("--prefix names the keys of one run: leave it out with --repeat")
    return args


def print_json(result: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return print_json(asyncio.run(repeated(parse(argv))))


if __name__ == "__main__":
    main()
