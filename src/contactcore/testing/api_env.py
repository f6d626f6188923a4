"""The API over real SQLite (migrated, demo-seeded) and real Redis, for the API tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from contactcore import wiring
from contactcore.acd.history import run_history_consumer
from contactcore.acd.model import AgentConfig, Presence, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.demo import seed_demo
from contactcore.adapters.db.desk import SqlDeskHistory
from contactcore.adapters.db.routing_store import SqlHistorySink, SqlRoutingDurableStore
from contactcore.adapters.db.staff import SqlStaffDirectory
from contactcore.adapters.db.wfm_store import SqlHistory, SqlIntervalStore
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.adapters.redis.stream import RedisStreamBus, RedisStreamSource, RedisStreamTail
from contactcore.channels.voice_transfer import VoiceTransfers
from contactcore.core.voice import CallHandler, Leg
from contactcore.errors import DependencyUnavailable
from contactcore.settings import CallbackSettings
from contactcore.testing.acd_fakes import ManualClock
from contactcore.web.app import ApiServices, build_web_app
from contactcore.web.auth import Auth, AuthConfig, LoginThrottle
from contactcore.wfm.service import WfmConfig, WfmService, seed_demo_history

Client = TestClient[web.Request, web.Application]


class NoTelephony:
    """The API never dials: a telephony port that says so if it is ever asked to."""

    connected = False

    def set_call_handler(self, handler: CallHandler | None) -> None:
        pass

    async def originate(
        self,
        endpoint: str,
        *,
        caller_id: str,
        timeout: float,
        variables: dict[str, str] | None = None,
    ) -> Leg:
        raise DependencyUnavailable("no telephony in the API tests")

    async def bridge(self, legs: Sequence[Leg]) -> str:
        raise DependencyUnavailable("no telephony in the API tests")

    async def destroy_bridge(self, bridge_id: str) -> None:
        pass

    async def record_bridge(self, bridge_id: str, name: str) -> str:
        raise DependencyUnavailable("no telephony in the API tests")

    async def stop_recording(self, name: str, timeout: float) -> float | None:
        return None


async def _no_phone(agent_id: str) -> tuple[str, str] | None:
    return None


@dataclass
class ApiEnv:
    client: Client
    db: Database
    staff: SqlStaffDirectory
    routing: RoutingService
    clock: ManualClock
    redis: aioredis.Redis
    ids: dict[str, str]  # username -> agent id
    redis_prefix: str = ""

    async def login(self, username: str, password: str | None = None) -> dict[str, Any]:
        resp = await self.client.post(
            "/api/v1/auth/login",
            json={"username": username, "password": password or f"demo-{username}"},
        )
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body

    async def hold_call(self, username: str, task_id: str, queue: str = "general") -> None:
        """Put a voice task of ``queue`` in ``username``'s hands (logged in, offered,
        accepted), as if they had answered a call; nothing else is routed meanwhile."""
        member = await self.staff.member(self.ids[username])
        assert member is not None
        config = AgentConfig.stored(member.id, member.skills, member.capacities, member.blocks)
        await self.routing.login(config, Presence.AVAILABLE)
        await self.routing.enqueue(
            TaskSpec(
                id=task_id,
                channel="voice",
                queue=queue,
                attributes={"call_id": f"call-{task_id}", "interaction_id": f"ix-{task_id}"},
            )
        )
        offers = await self.routing.route()
        assert [(o.task_id, o.agent_id) for o in offers] == [(task_id, member.id)], offers
        await self.routing.accept(task_id, member.id)

    async def token(self, username: str) -> str:
        """A bearer token for ``username`` (logs in, creates the token, logs out)."""
        csrf = (await self.login(username))["csrf_token"]
        resp = await self.client.post(
            "/api/v1/auth/tokens", json={"label": "test"}, headers={"X-CSRF-Token": csrf}
        )
        assert resp.status == 201, await resp.text()
        token: str = (await resp.json())["token"]
        self.client.session.cookie_jar.clear()
        return token

    async def bearer(self, username: str) -> dict[str, str]:
        """The Authorization header of a fresh bearer token for ``username``."""
        return {"Authorization": f"Bearer {await self.token(username)}"}


@asynccontextmanager
async def api_env(
    sqlite_url: str,
    redis_url: str,
    redis_prefix: str,
    *,
    cookie_secure: bool = False,
    with_feed: bool = False,
    background: bool = False,
    queue_changes: Mapping[str, Mapping[str, Any]] | None = None,
    timezone: str = "UTC",
) -> AsyncIterator[ApiEnv]:
    """``background``: also run a router (routing decisions as tasks and agents change)
    and the history consumer (events into SQL, for today's numbers), as ``serve`` does.
    ``queue_changes``: per queue name, config keys to replace after seeding.
    ``timezone``: where the centre's day begins (``[web] timezone``)."""
    await upgrade(sqlite_url)
    clock = ManualClock(time.time())
    db = await open_database(sqlite_url, clock=clock)
    await seed_demo(db)
    for name, changes in (queue_changes or {}).items():
        record = await db.queues.get_by_name(name)
        assert record is not None, f"no demo queue {name}"
        await db.queues.update(record.id, config=record.config | dict(changes))
    store = SqlIntervalStore(db.engine)
    await seed_demo_history(store, ["general"], date.today(), days=7)
    planning = WfmService(store, SqlHistory(db.engine), WfmConfig())
    client = aioredis.Redis.from_url(redis_url)
    durable = SqlRoutingDurableStore(db.agents, db.sessions, db.tasks, clock)
    routing = RoutingService(RedisRoutingStore(client, redis_prefix), clock, durable=durable)
    records = await db.queues.list()
    await routing.start([wiring.acd_queue(r) for r in records])
    callbacks = wiring.callback_service(
        CallbackSettings(),
        "US",
        records,
        db.callbacks,
        routing,
        NoTelephony(),
        db.interactions,
        clock,
        _no_phone,
    )
    staff = SqlStaffDirectory(db.engine, clock)
    services = ApiServices(
        auth=Auth(
            staff=staff,
            credentials=staff,
            audit=staff,
            clock=clock,
            config=AuthConfig(cookie_secure=cookie_secure),
            throttle=LoginThrottle(clock),
        ),
        routing=routing,
        desk=SqlDeskHistory(db.engine, clock),
        feed=RedisStreamTail(client, redis_prefix) if with_feed else None,
        callbacks=callbacks,
        transfers=VoiceTransfers(routing, RedisStreamBus(client, redis_prefix), clock),
        timezone=timezone,
    )
    app = build_web_app({}, CollectorRegistry(), planning, services)
    ids = {m.username: m.id for m in await staff.members()}
    stop = asyncio.Event()
    work: list[asyncio.Task[object]] = []
    if background:
        source = RedisStreamSource(client, redis_prefix, "history", "api-env")
        work = [
            asyncio.create_task(routing.run(stop), name="router"),
            asyncio.create_task(
                run_history_consumer(source, SqlHistorySink(db.interactions), stop, block_ms=100),
                name="history",
            ),
        ]
    try:
        async with TestClient(TestServer(app)) as tc:
            yield ApiEnv(tc, db, staff, routing, clock, client, ids, redis_prefix)
    finally:
        stop.set()
        if work:
            _, pending = await asyncio.wait(work, timeout=5.0)
            for t in pending:
                t.cancel()
            for t in work:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise RuntimeError(f"background {t.get_name()} failed") from t.exception()
        await client.aclose()
        await db.close()
