"""Interleaved A/B of two versions of the routing engine's Lua code; prints JSON.

On a shared machine the run-to-run spread of ``acd_bench.py`` is larger than what one
change to the engine saves. This runs both versions in the same seconds instead: one
Redis, the benchmark's workload set up twice (same seed) under two key prefixes, the
routing calls alternated A, B, A, B ... to the end, and the Redis main thread's on-CPU
time (``/proc/<pid>/task/<pid>/schedstat``; Redis must run on this machine) summed per
version around each routing call and each accept + finish round trip. Use a Redis with
no other clients (``redis-server --port 6393 --save ''``) and run both orders.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent))

import acd_bench
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.keys import lua_prelude
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.core.clock import SystemClock

ENGINE = "src/contactcore/adapters/redis/acd.lua"
KEYS = "src/contactcore/adapters/redis/keys.py"
MARKER = "local P, cmd, now, args, STREAM_MAX, NOW\n"


def git_show(revision: str, path: str) -> str:
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["git", "-C", str(repo), "show", f"{revision}:{path}"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{revision!r} is neither a Lua file nor a git revision: {done.stderr}")
    return done.stdout


def engine_code(source: str) -> str:
    """The engine's code (as the store builds it) from a file or a git revision.

    A revision's engine gets that revision's key helpers (its keys.py), a file this
    tree's.
    """
    if Path(source).is_file():
        body = Path(source).read_text("utf-8")
        prelude = lua_prelude()
    else:
        body = git_show(source, ENGINE)
        keys_module: dict[str, Any] = {"__name__": "keys_at_revision"}
        exec(compile(git_show(source, KEYS), KEYS, "exec"), keys_module)
        prelude = keys_module["lua_prelude"]()
    head, marker, rest = body.partition(MARKER)
    if not marker:
        raise SystemExit(f"{source!r}: not the engine's code (no line {MARKER.strip()!r})")
    return head + marker + prelude + rest


def cpu_reader(pid: int) -> Callable[[], int]:
    path = Path(f"/proc/{pid}/task/{pid}/schedstat")
    if not path.exists():
        raise SystemExit(f"{path} not found: run this on the machine where Redis runs")

    def read() -> int:
        return int(path.read_text().split()[0])

    return read


async def run(a: argparse.Namespace) -> dict[str, Any]:
    client = aioredis.Redis.from_url(a.redis_url)
    prefix = a.prefix or f"ab:{uuid.uuid4().hex[:10]}"
    clock = SystemClock()
    sides: list[dict[str, Any]] = []
    try:
        cpu = cpu_reader(int((await client.info("server"))["process_id"]))
        for name, source in (("a", a.a), ("b", a.b)):
            store = RedisRoutingStore(client, f"{prefix}:{name}")
            store.use_code(engine_code(source))
            svc = RoutingService(store, clock, match_limit=a.batch)
            await acd_bench.setup(svc, a, random.Random(a.seed))
            sides.append({"name": name, "source": source, "store": store, "svc": svc,
                          "route_ns": 0, "af_ns": 0, "decisions": 0, "done": False})  # fmt: skip
        while not all(s["done"] for s in sides):
            for s in sides:
                if s["done"]:
                    continue
                t = cpu()
                offers = await s["svc"].route()
                s["route_ns"] += cpu() - t
                if not offers:
                    s["done"] = True
                    continue
                s["decisions"] += len(offers)
                pairs = [[o.task_id, o.agent_id] for o in offers]
                now = clock.now()
                t = cpu()
                await s["store"].execute_many(
                    [("accept", now, {"offers": pairs}), ("finish", now, {"tasks": pairs})]
                )
                s["af_ns"] += cpu() - t
        out: dict[str, Any] = {}
        for s in sides:
            n = max(1, s["decisions"])
            out[s["name"]] = {
                "source": s["source"],
                "decisions": s["decisions"],
                "redis_cpu_us_per_decision_routing": s["route_ns"] / 1000 / n,
                "redis_cpu_us_per_decision_accept_finish": s["af_ns"] / 1000 / n,
            }
        return out
    finally:
        await acd_bench.cleanup(client, prefix)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--a", default="main", help="Lua file or git revision (default: main)")
    here = str(Path(__file__).resolve().parents[1] / ENGINE)
    p.add_argument("--b", default=here, help="Lua file or git revision (default: this tree)")
    acd_bench.workload_args(p, "redis://127.0.0.1:6393/0")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return acd_bench.print_json(asyncio.run(run(parse(argv))))


if __name__ == "__main__":
    main()
