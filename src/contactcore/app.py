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
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from contactcore import wiring
from contactcore.acd.history import run_history_consumer
from contactcore.acd.service import RoutingService
from contactcore.adapters import db
from contactcore.adapters.ari.client import AriClient
from contactcore.adapters.ari.telephony import AriTelephony
from contactcore.adapters.db.desk import SqlDeskHistory
from contactcore.adapters.db.engine import check_connection
from contactcore.adapters.db.routing_store import SqlHistorySink, SqlRoutingDurableStore
from contactcore.adapters.db.staff import SqlStaffDirectory
from contactcore.adapters.db.timeline import BufferedTimeline
from contactcore.adapters.db.wfm_store import SqlHistory, SqlIntervalStore
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.adapters.redis.stream import RedisStreamBus, RedisStreamSource, RedisStreamTail
from contactcore.channels.positions import QueuePositions
from contactcore.channels.signals import TaskSignals
from contactcore.channels.voice import CallFlow, CallJournal, VoiceChannel, line_test_flow
from contactcore.channels.voice_callback import CallbackOffers
from contactcore.channels.voice_queue import AgentLine, VoiceQueue
from contactcore.channels.voice_transfer import VoiceTransfers
from contactcore.core.clock import SystemClock
from contactcore.core.events import DomainEvent
from contactcore.core.voice import Leg
from contactcore.errors import DependencyUnavailable
from contactcore.ivr.idv import IdentityChecker, IdvPolicy
from contactcore.ivr.loader import FlowRegistry, install_reload_signal
from contactcore.ivr.runner import FlowRunner
from contactcore.settings import Settings
from contactcore.web.app import ApiServices, build_web_app
from contactcore.web.auth import Auth, AuthConfig, LoginThrottle
from contactcore.web.health import CheckResult
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


async def serve(settings: Settings, pid_file: Path | None = None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = SystemClock()

    async with AsyncExitStack() as stack:
        # -- storage ------------------------------------------------------------
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

        redis_client = aioredis.Redis.from_url(settings.redis.url)
        stack.push_async_callback(redis_client.aclose)
        await _check_redis(redis_client, settings.redis.url)
        prefix = settings.redis.key_prefix

        # -- call flows (a bad file stops start-up with the file, node and fault) --
        registry = FlowRegistry(settings.controller.dialplans_dir)
        registry.load()
        install_reload_signal(registry)

        # -- routing ------------------------------------------------------------------
        durable = SqlRoutingDurableStore(database.agents, database.sessions, database.tasks, clock)
        routing = RoutingService(
            RedisRoutingStore(redis_client, prefix),
            clock,
            durable=durable,
            match_limit=settings.routing.match_limit,
        )
        records = await database.queues.list()
        queue_settings = {r.name: wiring.voice_settings(r) for r in records}
        await routing.start([wiring.acd_queue(r) for r in records])
        log.info("queues: %s", ", ".join(sorted(queue_settings)) or "none")
        # Both feeds start from here, before any call is taken or any task is routed: an
        # offer for our work made before their first read is still seen.
        signal_feed = RedisStreamTail(redis_client, prefix)
        callback_feed = RedisStreamTail(redis_client, prefix)
        await signal_feed.pin()
        await callback_feed.pin()
        signals = TaskSignals(signal_feed)

        # -- voice --------------------------------------------------------------------
        ari = settings.ari
        telephony = AriTelephony(
            AriClient(ari.url, ari.username, ari.password, request_timeout=ari.request_timeout),
            ari.app,
            backoff_initial=ari.reconnect_initial,
            backoff_max=ari.reconnect_max,
        )

        async def agent_line(agent_id: str) -> AgentLine | None:
            agent = await database.agents.get(agent_id)
            if agent is None or not agent.sip_endpoint:
                return None
            return AgentLine(endpoint=f"PJSIP/{agent.sip_endpoint}", name=agent.name)

        # announcements share reads of the whole live routing state
        positions = QueuePositions(routing.live_numbers)

        # -- callbacks: virtual hold, scheduling, agent-first dialling ---------------
        cb = settings.callback

        async def agent_phone(agent_id: str) -> tuple[str, str] | None:
            line = await agent_line(agent_id)
            return None if line is None else (line.endpoint, line.name)

        callbacks = wiring.callback_service(
            cb,
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

        legs: dict[str, Leg] = {}
        voice_queue = VoiceQueue(
            routing,
            signals,
            telephony,
            legs,
            agent_line,
            positions.lookup,
            queue_settings,
            recorder.add_event,
            clock,
            on_recording=lambda interaction_id, file: database.interactions.annotate(
                interaction_id, recording=file
            ),
            callbacks=CallbackOffers(callbacks, offer_key=cb.offer_key) if cb.enabled else None,
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
            registry,
            identity=identity,
            enqueuer=voice_queue,
            recorder=recorder.add_event,
            clock=clock,
        )
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

        async def update_statistics(interaction_id: str, started: float) -> None:
            """Recompute the planning interval the call started in, now that it is over."""
            refresher.mark(started)

        voice = VoiceChannel(
            recorder,
            clock,
            flows={LINE_TEST_NUMBER: line_test_flow},
            default_flow=ivr_flow(runner),
            legs=legs,
            on_closed=update_statistics,
        )
        telephony.set_call_handler(voice.handle)
        stack.push_async_callback(telephony.drain, settings.controller.shutdown_grace)
        await telephony.start(connect_timeout=ari.request_timeout)

        # -- background work: routing decisions, our tasks' events, history -------------
        stop_work = asyncio.Event()
        history = RedisStreamSource(redis_client, prefix, "history", f"controller-{os.getpid()}")
        background = [
            asyncio.create_task(routing.run(stop_work), name="router"),
            asyncio.create_task(signals.run(stop_work), name="task-signals"),
            asyncio.create_task(
                run_history_consumer(
                    history,
                    PlanningHistorySink(
                        SqlHistorySink(database.interactions),
                        SqlHistory(database.engine),
                        refresher,
                    ),
                    stop_work,
                ),
                name="history",
            ),
            asyncio.create_task(callbacks.run(stop_work, callback_feed), name="callbacks"),
        ]

        async def stop_background() -> None:
            stop_work.set()
            _, pending = await asyncio.wait(background, timeout=5.0)
            for task in pending:
                task.cancel()
            if pending:  # bounded: a cancellation can be swallowed inside redis-py
                await asyncio.wait(pending, timeout=2.0)

        stack.push_async_callback(stop_background)
        for task in background:
            task.add_done_callback(_report_crash)

        # -- web ------------------------------------------------------------------------
        async def ari_ok() -> CheckResult:
            if telephony.connected:
                return CheckResult(True, f"event stream up (app {ari.app})")
            return CheckResult(False, f"event stream down: {telephony.stream.last_error}")

        async def redis_ok() -> CheckResult:
            await redis_client.ping()
            return CheckResult(True, "PING answered")

        async def db_ok() -> CheckResult:
            await check_connection(database.engine, settings.database.url)
            return CheckResult(True, database.engine.url.get_backend_name())

        registry_metrics = CollectorRegistry()
        registry_metrics.register(ControllerCollector(telephony))
        # API: people, sessions, tokens and the audit log in SQL; live events from Redis.
        staff = SqlStaffDirectory(database.engine, clock)
        api_services = ApiServices(
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
        app = build_web_app(
            {"asterisk": ari_ok, "redis": redis_ok, "database": db_ok},
            registry_metrics,
            planning,
            api_services,
        )
        runner_web = web.AppRunner(app, access_log=None)
        await runner_web.setup()
        stack.push_async_callback(runner_web.cleanup)
        site = web.TCPSite(runner_web, settings.web.host, settings.web.port)
        try:
            await site.start()
        except OSError as exc:
            raise DependencyUnavailable(
                f"cannot listen on {settings.web.host}:{settings.web.port} ({exc.strerror}): "
                "stop what uses it or set [web] port / CONTACTCORE_WEB__PORT"
            ) from None

        with _pid_file(pid_file):
            log.info(
                "contactcore serving: web http://%s:%d, ARI %s app %s",
                settings.web.host,
                settings.web.port,
                ari.url,
                ari.app,
            )
            await stop.wait()
            log.info("stopping: no new calls; %d in progress", telephony.active_calls)
            telephony.accepting = False
    log.info("stopped")
    return 0
