"""``contactcore acd status|agent``: live numbers of every queue; an agent's presence."""

from __future__ import annotations

import argparse
import asyncio
import json

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from contactcore.acd.model import AgentConfig, Presence, QueueStats
from contactcore.acd.service import RoutingService
from contactcore.adapters.db import open_database
from contactcore.adapters.db.routing_store import SqlRoutingDurableStore
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.cli._common import settings_from
from contactcore.core.clock import SystemClock
from contactcore.errors import DependencyUnavailable, NotFound
from contactcore.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("acd", help="routing engine (ACD) tools")
    acd_sub = p.add_subparsers(dest="acd_command", metavar="ACD_COMMAND", required=True)
    status = acd_sub.add_parser("status", help="per queue: waiting, longest wait, agents, EWT")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)
    agent = acd_sub.add_parser(
        "agent",
        help="set an agent's presence (log in, pause, log out) until the desktop does it",
        description=(
            "Sets the one presence an agent has for every channel. 'available' logs the agent "
            "in with the skills and capacities stored in the database."
        ),
    )
    agent.add_argument("username", help="the agent's username, e.g. agent1001")
    agent.add_argument("presence", choices=["available", "not-ready", "offline"])
    agent.add_argument("--reason", default=None, help="why not ready (e.g. break, training)")
    agent.set_defaults(handler=_agent)


async def _read(url: str, prefix: str) -> list[QueueStats]:
    client = aioredis.Redis.from_url(url)
    try:
        svc = RoutingService(RedisRoutingStore(client, prefix), SystemClock())
        return await svc.live_numbers()
    except RedisConnectionError as exc:
        raise DependencyUnavailable(f"Redis at {url} cannot be reached: {exc}") from exc
    finally:
        await client.aclose()


async def _set_presence(
    settings: Settings, username: str, presence: Presence, reason: str | None
) -> str:
    database = await open_database(settings.database.url)
    client = aioredis.Redis.from_url(settings.redis.url)
    try:
        record = await database.agents.get_by_username(username)
        if record is None:
            raise NotFound(
                f"no agent '{username}': see 'contactcore demo seed' for the demo agents"
            )
        durable = SqlRoutingDurableStore(database.agents, database.sessions, database.tasks)
        svc = RoutingService(
            RedisRoutingStore(client, settings.redis.key_prefix), SystemClock(), durable=durable
        )
        if presence is Presence.OFFLINE:
            await svc.set_presence(record.id, presence)
        else:
            config = AgentConfig.stored(record.id, record.skills, record.capacities, record.blocks)
            await svc.login(config, presence, reason)
        return record.id
    except RedisConnectionError as exc:
        raise DependencyUnavailable(
            f"Redis at {settings.redis.url} cannot be reached: {exc}"
        ) from exc
    finally:
        await client.aclose()
        await database.close()


def _agent(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    presence = Presence(args.presence.replace("-", "_"))
    agent_id = asyncio.run(_set_presence(settings, args.username, presence, args.reason))
    print(
        f"{args.username} ({agent_id}): {presence}" + (f" ({args.reason})" if args.reason else "")
    )
    return 0


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
