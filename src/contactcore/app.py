"""Composition root: reads settings, builds adapters and services, wires the web app.

Everything else receives its dependencies from here. ``serve`` is the controller
process: it checks every dependency at start-up (one clear line if one is missing),
takes calls until SIGTERM/SIGINT, then stops taking new calls, lets calls in
progress finish within the grace period and closes its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from contactcore import wiring
from contactcore.acd.history import run_history_consumer
from contactcore.acd.model import QueueConfig
from contactcore.acd.service import RoutingService
from contactcore.adapters import db
from contactcore.adapters.ari.client import AriClient
from contactcore.adapters.ari.telephony import AriTelephony
from contactcore.adapters.db.desk import SqlDeskHistory
from contactcore.adapters.db.engine import check_connection
from contactcore.adapters.db.records import QueueRecord
from contactcore.adapters.db.routing_store import SqlHistorySink, SqlRoutingDurableStore
from contactcore.adapters.db.staff import SqlStaffDirectory
from contactcore.adapters.db.timeline import BufferedTimeline
from contactcore.adapters.db.wfm_store import SqlHistory, SqlIntervalStore
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.adapters.redis.stream import RedisStreamBus, RedisStreamSource, RedisStreamTail
from contactcore.callback.service import CallbackService
from contactcore.channels.positions import QueuePositions
from contactcore.channels.signals import TaskSignals
from contactcore.channels.voice import CallFlow, CallJournal, VoiceChannel, line_test_flow
from contactcore.channels.voice_callback import CallbackOffers
from contactcore.channels.voice_queue import AgentLine, VoiceQueue
from contactcore.channels.voice_transfer import VoiceTransfers
from contactcore.core.clock import Clock, SystemClock
from contactcore.core.events import DomainEvent
from contactcore.core.voice import Leg
from contactcore.errors import DependencyUnavailable
from contactcore.ivr.idv import IdentityChecker, IdvPolicy
from contactcore.ivr.loader import FlowRegistry, install_reload_signal
from contactcore.ivr.runner import FlowRunner
from contactcore.settings import AriSettings, Settings
from contactcore.web.app import ApiServices, build_web_app
from contactcore.web.auth import Auth, AuthConfig, LoginThrottle
from contactcore.web.health import CheckResult, HealthCheck
from contactcore.wfm.service import IntervalRefresher, WfmConfig, WfmService

log = logging.getLogger(__name__)

LINE_TEST_NUMBER = "199"


class ControllerCollector(Collector):
    """Prometheus view of the controller's live counters (read at scrape time)."""

    def __init__(self, telephony: AriTelephony) -> None:
        self._t = telephony

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        t = self._t
        yield GaugeMetricFamily(
            "contactcore_ari_connected", "1 while the ARI event stream is up", value=t.connected
        )
        yield CounterMetricFamily(
            "contactcore_ari_reconnects", "ARI event stream reconnects", value=t.stream.reconnects
        )
        yield CounterMetricFamily(
            "contactcore_ari_events", "ARI events received", value=t.stream.events_received
        )
        yield CounterMetricFamily(
            "contactcore_calls_started", "inbound calls taken", value=t.calls_started
        )
        yield CounterMetricFamily(
            "contactcore_calls_refused", "inbound calls refused", value=t.calls_refused
        )
        yield GaugeMetricFamily(
            "contactcore_calls_active", "calls in progress", value=t.active_calls
        )


async def _check_redis(client: aioredis.Redis, url: str) -> None:
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise DependencyUnavailable(
            f"Redis at {url} did not answer ({type(exc).__name__}): start it "
            "(e.g. 'redis-server --daemonize yes') or set [redis] url / REDIS_URL"
        ) from None


@contextlib.contextmanager
def _pid_file(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _report_crash(task: asyncio.Task[Any]) -> None:
    """Background work must not die silently: say what stopped and why."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s stopped: %r", task.get_name(), exc, exc_info=exc)


class PlanningHistorySink:
    """History first; then the planning interval of every task whose wrap-up just ended,
    so that handle times (talk + hold + wrap-up) are complete as work completes."""

    def __init__(
        self, history: SqlHistorySink, offered_at: SqlHistory, refresher: IntervalRefresher
    ) -> None:
        self._history = history
        self._offered_at = offered_at
        self._refresher = refresher

    async def write(self, events: Sequence[DomainEvent]) -> None:
        await self._history.write(events)
        done = [e.task_id for e in events if e.type == "agent.wrapup_ended" and e.task_id]
        for offered in await self._offered_at.offered_at(done):
            self._refresher.mark(offered)


def ivr_flow(runner: FlowRunner) -> CallFlow:
    """The call flow of every number with a flow file: the IVR runner, on this call's record."""

    async def run(leg: Leg, journal: CallJournal) -> str:
        context = runner.new_context(leg).model_copy(
            update={"interaction_id": journal.interaction_id}
        )
        result = await runner.run(leg, context=context)
        return str(result.outcome)

    return run


async def _open_storage(
    settings: Settings, stack: AsyncExitStack
) -> tuple[db.Database, BufferedTimeline]:
    """The database, migrated first, and the batched writer of call timelines."""
    applied = await db.upgrade(settings.database.url)
    if applied:
        log.info("database migrated: %s", ", ".join(applied))
    database = await db.open_database(settings.database.url, echo=settings.database.echo)
    stack.push_async_callback(database.close)
    # Timeline events are written in batches, off the calls' path; closed after the
    # calls (registered before telephony.drain, so it runs after it).
    recorder = BufferedTimeline(database.interactions)
    recorder.start_writer()
    stack.push_async_callback(recorder.close)
    return database, recorder


async def _open_redis(settings: Settings, stack: AsyncExitStack) -> aioredis.Redis:
    client = aioredis.Redis.from_url(settings.redis.url)
    stack.push_async_callback(client.aclose)
    await _check_redis(client, settings.redis.url)
    return client


async def _start_routing(
    settings: Settings, database: db.Database, redis_client: aioredis.Redis, clock: Clock
) -> tuple[RoutingService, list[QueueRecord]]:
    """The ACD with every configured queue, its live state rebuilt from SQL if Redis lost it."""
    durable = SqlRoutingDurableStore(database.agents, database.sessions, database.tasks, clock)
    routing = RoutingService(
        RedisRoutingStore(redis_client, settings.redis.key_prefix),
        clock,
        durable=durable,
        match_limit=settings.routing.match_limit,
    )
    records = list(await database.queues.list())

    async def stored_queues() -> list[QueueConfig]:
        # a refill after Redis lost the state takes the queues as they are now in SQL
        # (a queue another process closed stays closed)
        return [wiring.acd_queue(r) for r in await database.queues.list()]

    await routing.start([wiring.acd_queue(r) for r in records], reload=stored_queues)
    log.info("queues: %s", ", ".join(sorted(r.name for r in records)) or "none")
    return routing, records


def _telephony(ari: AriSettings) -> AriTelephony:
    return AriTelephony(
        AriClient(ari.url, ari.username, ari.password, request_timeout=ari.request_timeout),
        ari.app,
        backoff_initial=ari.reconnect_initial,
        backoff_max=ari.reconnect_max,
    )


def _start_planning(
    settings: Settings, database: db.Database, stack: AsyncExitStack
) -> tuple[WfmService, IntervalRefresher]:
    """Forecasts and staffing, with the task that keeps planning intervals up to date."""
    planning = WfmService(
        SqlIntervalStore(database.engine),
        SqlHistory(database.engine),
        WfmConfig(
            interval_seconds=settings.wfm.interval_seconds,
            country=settings.wfm.country or None,
            threshold_seconds=settings.wfm.threshold_seconds,
            history_days=settings.wfm.history_days,
        ),
    )
    refresher = IntervalRefresher(planning.rebuild, settings.wfm.interval_seconds)
    refresher_stop = asyncio.Event()
    refreshing = asyncio.create_task(refresher.run(refresher_stop), name="planning-intervals")
    refreshing.add_done_callback(_report_crash)

    async def stop_refresher() -> None:
        """After the calls have drained (registered before the drain): their intervals too."""
        refresher_stop.set()
        await asyncio.wait({refreshing}, timeout=10.0)

    stack.push_async_callback(stop_refresher)
    return planning, refresher


class _VoiceParts(NamedTuple):
    """What the voice channel is built from, beside the services it shares."""

    registry: FlowRegistry
    routing: RoutingService
    signals: TaskSignals
    telephony: AriTelephony
    callbacks: CallbackService
    recorder: BufferedTimeline
    refresher: IntervalRefresher


def _voice_channel(
    settings: Settings,
    database: db.Database,
    records: Sequence[QueueRecord],
    parts: _VoiceParts,
    agent_line: Callable[[str], Awaitable[AgentLine | None]],
    clock: Clock,
) -> VoiceChannel:
    """Every inbound call: the IVR flows, ID&V, and the queue that hands it to an agent."""
    routing, recorder, cb = parts.routing, parts.recorder, settings.callback
    legs: dict[str, Leg] = {}
    voice_queue = VoiceQueue(
        routing,
        parts.signals,
        parts.telephony,
        legs,
        agent_line,
        # announcements share reads of the whole live routing state
        QueuePositions(routing.live_numbers).lookup,
        {r.name: wiring.voice_settings(r) for r in records},
        recorder.add_event,
        clock,
        on_recording=lambda interaction_id, file: database.interactions.annotate(
            interaction_id, recording=file
        ),
        callbacks=CallbackOffers(parts.callbacks, offer_key=cb.offer_key) if cb.enabled else None,
    )
    identity = IdentityChecker(
        database.customers,
        database.locks,
        clock,
        IdvPolicy(
            default_region=settings.ivr.default_region,
            max_attempts=settings.ivr.verify_max_attempts,
            lock_seconds=settings.ivr.verify_lock_seconds,
        ),
    )
    runner = FlowRunner(
        parts.registry,
        identity=identity,
        enqueuer=voice_queue,
        recorder=recorder.add_event,
        clock=clock,
    )
    refresher = parts.refresher

    async def update_statistics(interaction_id: str, started: float) -> None:
        """Recompute the planning interval the call started in, now that it is over."""
        refresher.mark(started)

    return VoiceChannel(
        recorder,
        clock,
        flows={LINE_TEST_NUMBER: line_test_flow},
        default_flow=ivr_flow(runner),
        legs=legs,
        on_closed=update_statistics,
    )


def _start_background(
    stack: AsyncExitStack, stop_work: asyncio.Event, work: dict[str, Coroutine[Any, Any, object]]
) -> None:
    """Long-running loops that end when ``stop_work`` is set (by the stack, on the way out).

    They stop by the event, not by cancellation, which redis-py can swallow mid-command;
    cancellation is only the bounded fallback.
    """
    background = [asyncio.create_task(coro, name=name) for name, coro in work.items()]

    async def stop_background() -> None:
        stop_work.set()
        _, pending = await asyncio.wait(background, timeout=5.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)

    stack.push_async_callback(stop_background)
    for task in background:
        task.add_done_callback(_report_crash)


def _health_checks(
    settings: Settings,
    telephony: AriTelephony,
    redis_client: aioredis.Redis,
    database: db.Database,
) -> dict[str, HealthCheck]:
    async def ari_ok() -> CheckResult:
        if telephony.connected:
            return CheckResult(True, f"event stream up (app {settings.ari.app})")
        return CheckResult(False, f"event stream down: {telephony.stream.last_error}")

    async def redis_ok() -> CheckResult:
        await redis_client.ping()
        return CheckResult(True, "PING answered")

    async def db_ok() -> CheckResult:
        await check_connection(database.engine, settings.database.url)
        return CheckResult(True, database.engine.url.get_backend_name())

    return {"asterisk": ari_ok, "redis": redis_ok, "database": db_ok}


def _api_services(
    settings: Settings,
    database: db.Database,
    redis_client: aioredis.Redis,
    routing: RoutingService,
    callbacks: CallbackService,
    clock: Clock,
) -> ApiServices:
    """People, sessions, tokens and the audit log in SQL; live events from Redis."""
    staff = SqlStaffDirectory(database.engine, clock)
    prefix = settings.redis.key_prefix
    return ApiServices(
        auth=Auth(
            staff=staff,
            credentials=staff,
            audit=staff,
            clock=clock,
            config=AuthConfig(
                cookie_secure=settings.web.cookie_secure,
                session_ttl_s=settings.web.session_hours * 3600.0,
            ),
            throttle=LoginThrottle(clock),
        ),
        routing=routing,
        desk=SqlDeskHistory(database.engine, clock),
        feed=RedisStreamTail(redis_client, prefix),
        # the call may be carried by another controller: asked over the event stream
        transfers=VoiceTransfers(routing, RedisStreamBus(redis_client, prefix), clock),
        callbacks=callbacks,
        timezone=settings.web.timezone,
    )


async def _start_web(settings: Settings, stack: AsyncExitStack, app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.web.host, settings.web.port)
    try:
        await site.start()
    except OSError as exc:
        raise DependencyUnavailable(
            f"cannot listen on {settings.web.host}:{settings.web.port} ({exc.strerror}): "
            "stop what uses it or set [web] port / CONTACTCORE_WEB__PORT"
        ) from None


async def serve(settings: Settings, pid_file: Path | None = None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = SystemClock()

    # What is pushed on the stack is undone in reverse: the web server first, then the
    # background loops, the calls (drained), planning, Redis, timelines and the database.
    async with AsyncExitStack() as stack:
        database, recorder = await _open_storage(settings, stack)
        redis_client = await _open_redis(settings, stack)
        prefix = settings.redis.key_prefix

        # a bad flow file stops start-up with the file, node and fault
        registry = FlowRegistry(settings.controller.dialplans_dir)
        registry.load()
        install_reload_signal(registry)

        routing, records = await _start_routing(settings, database, redis_client, clock)
        # Both feeds start from here, before any call is taken or any task is routed: an
        # offer for our work made before their first read is still seen.
        signal_feed = RedisStreamTail(redis_client, prefix)
        callback_feed = RedisStreamTail(redis_client, prefix)
        await signal_feed.pin()
        await callback_feed.pin()
        signals = TaskSignals(signal_feed)
        telephony = _telephony(settings.ari)
        planning, refresher = _start_planning(settings, database, stack)

        async def agent_line(agent_id: str) -> AgentLine | None:
            agent = await database.agents.get(agent_id)
            if agent is None or not agent.sip_endpoint:
                return None
            return AgentLine(endpoint=f"PJSIP/{agent.sip_endpoint}", name=agent.name)

        async def agent_phone(agent_id: str) -> tuple[str, str] | None:
            line = await agent_line(agent_id)
            return None if line is None else (line.endpoint, line.name)

        # callbacks: virtual hold, scheduling, agent-first dialling
        callbacks = wiring.callback_service(
            settings.callback,
            settings.ivr.default_region,
            records,
            database.callbacks,
            routing,
            telephony,
            recorder,
            clock,
            agent_phone,
        )
        await callbacks.start()

        parts = _VoiceParts(registry, routing, signals, telephony, callbacks, recorder, refresher)
        voice = _voice_channel(settings, database, records, parts, agent_line, clock)
        telephony.set_call_handler(voice.handle)
        stack.push_async_callback(telephony.drain, settings.controller.shutdown_grace)
        await telephony.start(connect_timeout=settings.ari.request_timeout)

        # routing decisions, our tasks' events, history, callbacks
        stop_work = asyncio.Event()
        history = RedisStreamSource(redis_client, prefix, "history", f"controller-{os.getpid()}")
        sink = PlanningHistorySink(
            SqlHistorySink(database.interactions), SqlHistory(database.engine), refresher
        )
        _start_background(
            stack,
            stop_work,
            {
                "router": routing.run(stop_work),
                "task-signals": signals.run(stop_work),
                "history": run_history_consumer(history, sink, stop_work),
                "callbacks": callbacks.run(stop_work, callback_feed),
            },
        )

        metrics = CollectorRegistry()
        metrics.register(ControllerCollector(telephony))
        api_services = _api_services(settings, database, redis_client, routing, callbacks, clock)
        checks = _health_checks(settings, telephony, redis_client, database)
        await _start_web(settings, stack, build_web_app(checks, metrics, planning, api_services))

        with _pid_file(pid_file):
            log.info(
                "contactcore serving: web http://%s:%d, ARI %s app %s",
                settings.web.host,
                settings.web.port,
                settings.ari.url,
                settings.ari.app,
            )
            await stop.wait()
            log.info("stopping: no new calls; %d in progress", telephony.active_calls)
            telephony.accepting = False
    log.info("stopped")
    return 0
