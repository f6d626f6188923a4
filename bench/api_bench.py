"""API latency: login (argon2), authenticated reads (one SQL credential lookup each),
a supervisor change (routing + SQL + audit row). Prints JSON figures.

    python bench/api_bench.py --requests 300 --prefix ccbench:api
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from contactcore.testing.api_env import ApiEnv, api_env


def _ms(samples: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples, n=100) if len(samples) > 1 else samples * 99
    return {
        "p50": round(statistics.median(samples) * 1000, 3),
        "p95": round(qs[94] * 1000, 3),
        "p99": round(qs[98] * 1000, 3),
    }


async def _time(env: ApiEnv, n: int, method: str, path: str, **kw: Any) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = await env.client.request(method, path, **kw)
        await resp.read()
        out.append(time.perf_counter() - t0)
        assert resp.status < 300, (path, resp.status)
    return out


async def run(requests: int, prefix: str, redis_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        async with api_env(url, redis_url, prefix) as env:
            logins = []
            for _ in range(5):
                t0 = time.perf_counter()
                await env.login("supervisor")
                logins.append(time.perf_counter() - t0)
            env.client.session.cookie_jar.clear()
            auth = {"Authorization": f"Bearer {await env.token('supervisor')}"}
            me = await _time(env, requests, "GET", "/api/v1/me", headers=auth)
            queues = await _time(env, requests, "GET", "/api/v1/queues", headers=auth)
            agents = await _time(env, requests, "GET", "/api/v1/agents", headers=auth)
            body = {"open": True}
            path = "/api/v1/queues/general/open"
            change = await _time(env, requests, "PUT", path, json=body, headers=auth)
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
    return {
        "requests_each": requests,
        "login_ms": _ms(logins),
        "get_me_ms": _ms(me),
        "get_queues_ms": _ms(queues),
        "get_agents_ms": _ms(agents),
        "put_queue_open_audited_ms": _ms(change),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--prefix", default=f"ccbench:api:{uuid.uuid4().hex[:8]}")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests, args.prefix, args.redis_url)), indent=1))


if __name__ == "__main__":
    main()
