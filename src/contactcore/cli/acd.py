"""``contactcore acd status``: live numbers of every queue, read from Redis."""

from __future__ import annotations

import argparse
import asyncio
import json

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from contactcore.acd.model import QueueStats
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.cli._common import settings_from
from contactcore.core.clock import SystemClock
from contactcore.errors import DependencyUnavailable


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("acd", help="routing engine (ACD) tools")
    acd_sub = p.add_subparsers(dest="acd_command", metavar="ACD_COMMAND", required=True)
    status = acd_sub.add_parser("status", help="per queue: waiting, longest wait, agents, EWT")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)


async def _read(url: str, prefix: str) -> list[QueueStats]:
    client = aioredis.Redis.from_url(url)
    try:
        svc = RoutingService(RedisRoutingStore(client, prefix), SystemClock())
        return await svc.live_numbers()
    except RedisConnectionError as exc:
        raise DependencyUnavailable(f"Redis at {url} cannot be reached: {exc}") from exc
    finally:
        await client.aclose()


def _status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    stats = asyncio.run(_read(settings.redis.url, settings.redis.key_prefix))
    if args.json:
        print(json.dumps([s.model_dump() for s in stats], indent=2))
        return 0
    print(f"{'queue':<16} {'open':<5} {'waiting':>7} {'longest':>8} {'avail':>5} {'busy':>5} "
          f"{'wrap':>5} {'n/r':>5} {'next EWT':>8}")  # fmt: skip
    for s in stats:
        head = f"{s.tasks[0].ewt_s:.0f}s" if s.tasks and s.tasks[0].ewt_s >= 0 else "-"
        a = s.agents
        print(
            f"{s.queue_id:<16} {'yes' if s.open else 'no':<5} {s.waiting:>7} "
            f"{s.longest_wait_s:>7.0f}s {a['available']:>5} {a['busy']:>5} {a['wrap_up']:>5} "
            f"{a['not_ready']:>5} {head:>8}"
        )
    return 0
