"""Callbacks through real Asterisk: a waiting caller asks for one and hangs up; an agent
answers; the customer (a SIPp UAS behind the sandbox's ``customers`` endpoint) is
dialled, presses 1 and is bridged to the agent. Also: the callback keeps the caller's
place ahead of a later caller, no answer is retried then fails, scheduled callbacks
respect business hours, and a restart loses no pending callback.

Assertions are on the ARI events an independent observer saw, the routing engine's
state and events, and the database rows.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from contactcore.adapters.db import open_database
from contactcore.adapters.db.records import CallbackRecord, InteractionRecord
from contactcore.sandbox.sipp import free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.callback_phones import (
    Api,
    customer_phone,
    customer_script,
    dial_string,
    phone_logs_off,
)
from contactcore.testing.controller import start_controller
from contactcore.testing.voice_platform import Keys, PlatformRun, VoicePlatform, caller_script

pytestmark = pytest.mark.e2e

MENU_KEY_AT_MS = 4000  # the billing key cuts the menu short
CALLBACK_KEY_AT_MS = 4000  # after entering the queue: the offer key
KEEP_NUMBER_AT_MS = 4000  # "we can call you back on ... press 1"
CALLER = "2025550188"
CALLER_E164 = "+12025550188"


@pytest.fixture(autouse=True)
async def agent_logs_off(voice: PlatformRun) -> AsyncIterator[None]:
    """Leave agent1001's endpoint unregistered, as the tests after these expect."""
    yield
    if voice._platform is not None:
        await asyncio.to_thread(phone_logs_off, voice._platform, "agent1001")


async def finished(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    out, _ = await asyncio.to_thread(proc.communicate, timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


async def callbacks_rows(platform: VoicePlatform) -> list[CallbackRecord]:
    db = await open_database(platform.controller.database_url)
    try:
        from sqlalchemy import select

        from contactcore.adapters.db.tables import callbacks

        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(callbacks).order_by(callbacks.c.id))).all()
        return [CallbackRecord(**dict(r._mapping)) for r in rows]
    finally:
        await db.close()


async def wait_callback(
    platform: VoicePlatform, state: str, timeout: float = 60.0, **match: Any
) -> CallbackRecord:
    deadline = time.monotonic() + timeout
    rows: list[CallbackRecord] = []
    while time.monotonic() < deadline:
        rows = await callbacks_rows(platform)
        for r in rows:
            if r.state == state and all(getattr(r, k) == v for k, v in match.items()):
                return r
        await asyncio.sleep(0.2)
    raise AssertionError(f"no callback {state} {match} in {timeout}s: {rows}")


async def interaction(platform: VoicePlatform, ix: str, timeout: float = 20.0) -> InteractionRecord:
    db = await open_database(platform.controller.database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = await db.interactions.get_interaction(ix)
            if (row is not None and row.ended_at is not None) or time.monotonic() > deadline:
                assert row is not None, ix
                return row
            await asyncio.sleep(0.2)
    finally:
        await db.close()


def callback_settings(customer_port: int, ring_s: int = 10) -> dict[str, str]:
    return {
        "CONTACTCORE_CALLBACK__DIAL_STRING": dial_string(customer_port),
        "CONTACTCORE_CALLBACK__CUSTOMER_RING_SECONDS": str(ring_s),
        "CONTACTCORE_WEB__COOKIE_SECURE": "false",
    }


async def ask_for_callback(platform: VoicePlatform) -> asyncio.Future[Any]:
    """A caller: billing in the menu, the offer key while waiting, keeps their number,
    hears the confirmation and is hung up on."""
    script = caller_script(
        platform.tmp / "caller-callback.xml",
        [Keys(MENU_KEY_AT_MS, "1"), Keys(CALLBACK_KEY_AT_MS, "*"), Keys(KEEP_NUMBER_AT_MS, "1")],
        hangs_up=False,
        name="asks for a callback",
    )
    sb = platform.sandbox
    return asyncio.ensure_future(asyncio.to_thread(sb.run_sipp, script, caller=CALLER, timeout=90))


async def test_callback_keeps_the_place_rings_the_agent_first_and_bridges_the_customer(
    voice: PlatformRun,
) -> None:
    customer_port = free_udp_port()
    platform = await voice.start(
        # long wrap-up: after the callback the agent takes nothing else during the test
        {"billing": {"wrap_up_seconds": 120}},
        env=callback_settings(customer_port),
    )
    sb = platform.sandbox
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        # 1. the caller asks for a callback while waiting, keeps their number, call ends
        first = await ask_for_callback(platform)
        result = await first
        assert result.returncode == 0, result.errors()
        waiting = await platform.wait_waiting("billing", 1)
        callback = await wait_callback(platform, "queued")
        assert waiting == [callback.task_id]
        assert callback.number == CALLER_E164

        # 2. a later caller waits in the same queue: behind the callback
        later_script = caller_script(platform.tmp / "later.xml", [Keys(MENU_KEY_AT_MS, "1")])
        later = asyncio.ensure_future(
            asyncio.to_thread(
                sb.run_sipp, later_script, caller="2025550187", timeout=90,
                extra_args=["-d", "30000"],
            )
        )  # fmt: skip
        waiting = await platform.wait_waiting("billing", 2)
        assert waiting[0] == callback.task_id, "the callback is served first"

        # 3. the customer's phone answers and presses 1; the agent becomes available
        customer = customer_phone(
            platform, customer_port, customer_script(platform.tmp / "customer.xml", "1")
        )
        agent_port = free_udp_port()
        await asyncio.to_thread(platform.phone_logs_on, "agent1001", agent_port)
        phone = platform.phone(agent_port, "agent_auto_answer.xml", talk_ms=12000)
        agent = await platform.agent_available("agent1001")

        done = await wait_callback(platform, "done", timeout=60)
        await finished(phone)
        await finished(customer)
        result = await later
        assert result.returncode == 0, result.errors()

    assert done.attempts == 1
    assert done.last_reason is None
    assert done.data["agent_id"] == agent.id
    # 4. the agent's phone rang first with "Callback: <number>" and was bridged with the
    # customer, who saw the contact centre's caller ID
    entered = observer.of_type("ChannelEnteredBridge")
    by_bridge: dict[str, set[str]] = {}
    for e in entered:
        by_bridge.setdefault(e["bridge"]["id"], set()).add(e["channel"]["name"].split("-")[0])
    assert {"PJSIP/agent1001", "PJSIP/customers"} in by_bridge.values()
    seen: dict[str, list[dict[str, Any]]] = {}
    for e in observer.events:
        channel = e.get("channel")
        if isinstance(channel, dict) and "name" in channel:
            seen.setdefault(channel["name"].split("-")[0], []).append(e)
    agent_names = {e["channel"]["caller"]["name"] for e in seen["PJSIP/agent1001"]}
    assert f"Callback: {CALLER_E164}" in agent_names
    customer_numbers = {e["channel"]["caller"]["number"] for e in seen["PJSIP/customers"]}
    assert "+12025550100" in customer_numbers
    first_seen = {name: events[0]["timestamp"] for name, events in seen.items()}
    assert first_seen["PJSIP/agent1001"] < first_seen["PJSIP/customers"], "agent first"

    # 5. the routing engine: the callback task (channel callback) in the original place
    # went to the agent; the later caller was never offered
    offers = await platform.acd_events("task.offered")
    assert [(o["task_id"], o["payload"]["channel"]) for o in offers] == [
        (callback.task_id, "callback")
    ]
    rows = {r.caller: r for r in await platform.interactions(count=3)}
    original = rows[CALLER]
    assert original.outcome == "callback"
    queue_entered = next(e for e in original.events if e.type == "queue.entered")
    requested = next(e for e in original.events if e.type == "callback.requested")
    assert requested.payload["callback_id"] == callback.id
    assert done.data["enqueued_at"] == pytest.approx(queue_entered.at, abs=0.5)
    (enqueued,) = await platform.acd_events("task.enqueued", task_id=callback.task_id)
    later_row = rows["2025550187"]
    later_entered = next(e for e in later_row.events if e.type == "queue.entered")
    assert done.data["enqueued_at"] < later_entered.at
    assert enqueued["payload"].get("channel", "callback") == "callback"

    # 6. the callback's own interaction: attempts, outcome, every step
    record = await interaction(platform, done.data["interaction_id"])
    assert record.channel == "callback"
    assert record.outcome == "callback_connected"
    kinds = [e.type for e in record.events]
    for kind in (
        "callback.requested", "callback.queued", "callback.offered", "callback.agent_answered",
        "callback.customer_answered", "callback.connected", "callback.attempt", "callback.closed",
    ):  # fmt: skip
        assert kind in kinds, (kind, kinds)
    (attempt,) = [e for e in record.events if e.type == "callback.attempt"]
    assert attempt.payload["outcome"] == "connected"
    assert attempt.payload["attempt"] == 1


@pytest.fixture
async def api_for() -> AsyncIterator[Any]:
    opened: list[Api] = []

    async def login(platform: VoicePlatform, username: str = "supervisor") -> Api:
        api = await Api(platform.controller.web_url).login(username, f"demo-{username}")
        opened.append(api)
        return api

    yield login
    for api in opened:
        await api.close()


async def test_no_answer_is_retried_then_fails_and_the_agent_is_freed_each_time(
    voice: PlatformRun, api_for: Any
) -> None:
    customer_port = free_udp_port()
    platform = await voice.start(
        {"billing": {"callback": {"max_attempts": 2, "retry_seconds": 2}}},
        env=callback_settings(customer_port, ring_s=3),
    )
    api = await api_for(platform)
    # the customer's phone rings until the call is cancelled, twice
    customer = customer_phone(platform, customer_port, "agent_no_answer.xml", calls=2)
    agent_port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", agent_port)
    phone = platform.phone(agent_port, "agent_answer.xml", calls=2)
    agent = await platform.agent_available("agent1001")

    status, made = await api.call(
        "POST",
        "/api/v1/callbacks",
        {"number": "2025550186", "queue": "billing", "window_start": time.time(), "name": "Ann"},
    )
    assert status == 201, made
    failed = await wait_callback(platform, "failed", timeout=90, id=made["id"])
    await finished(phone)
    await finished(customer)

    assert failed.attempts == 2
    assert failed.last_reason == "no-answer after 2 attempt(s)"
    record = await interaction(platform, failed.data["interaction_id"])
    assert record.outcome == "callback_failed"
    attempts = [e for e in record.events if e.type == "callback.attempt"]
    assert [(e.payload["attempt"], e.payload["outcome"]) for e in attempts] == [
        (1, "no-answer"),
        (2, "no-answer"),
    ]
    (retry,) = [e for e in record.events if e.type == "callback.retry_scheduled"]
    requeued = [e for e in record.events if e.type == "callback.queued"]
    assert len(requeued) == 2
    assert requeued[1].at - retry.at >= 1.5, "the retry waited for its delay"
    (closed,) = [e for e in record.events if e.type == "callback.closed"]
    assert closed.payload["reason"] == "no-answer after 2 attempt(s)"
    # the agent was freed each time: wrap-up skipped, available, nothing in hand
    completed = await platform.acd_events("task.completed", agent_id=agent.id)
    assert len(completed) == 2
    ended = await platform.acd_events("agent.wrapup_ended", agent_id=agent.id)
    assert len(ended) == 2
    doc = await platform.agent_doc(agent.id)
    assert doc["pr"] == "available"
    assert not [k for k, v in doc.items() if k.startswith("ld:") and int(v) > 0]
    status, listed = await api.call("GET", "/api/v1/callbacks")
    assert status == 200
    assert listed == {"callbacks": []}


WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


async def test_scheduled_callback_outside_business_hours_is_refused(
    voice: PlatformRun, api_for: Any
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    platform = await voice.start(
        {"billing": {"hours": WEEKDAYS | {"sat": [], "sun": []}}},
        env={"CONTACTCORE_WEB__COOKIE_SECURE": "false"},
    )
    api = await api_for(platform)
    zone = ZoneInfo("America/New_York")
    saturday = datetime(2027, 1, 16, 11, 0, tzinfo=zone).timestamp()
    body = {"number": "+12025550185", "queue": "billing", "window_start": saturday}
    status, error = await api.call("POST", "/api/v1/callbacks", body)
    assert status == 422
    assert error == {
        "error": "unprocessable",
        "message": "window_start: queue billing is outside its business hours at "
        "2027-01-16 16:00 UTC; choose a time when the queue is open",
    }
    assert await callbacks_rows(platform) == []
    monday = datetime(2027, 1, 18, 11, 0, tzinfo=zone).timestamp()
    status, made = await api.call("POST", "/api/v1/callbacks", body | {"window_start": monday})
    assert status == 201, made
    assert made["state"] == "pending"


async def test_restarts_of_contactcore_and_redis_lose_no_pending_callback(
    voice: PlatformRun, api_for: Any, redis_prefix: str, redis_url: str
) -> None:
    customer_port = free_udp_port()
    platform = await voice.start(env=callback_settings(customer_port))
    api = await api_for(platform)
    now = time.time()
    made = {}
    for number, start in (("+12025550184", now - 5), ("+12025550183", now + 3600)):
        status, body = await api.call(
            "POST",
            "/api/v1/callbacks",
            {"number": number, "queue": "billing", "window_start": start},
        )
        assert status == 201, body
        made[number] = body
    due, later = made["+12025550184"], made["+12025550183"]
    assert (due["state"], later["state"]) == ("queued", "pending")
    assert await platform.wait_waiting("billing", 1) == [due["task_id"]]

    async def restart(wipe_redis: bool) -> None:
        ctl = platform.controller
        assert await asyncio.to_thread(ctl.stop) == 0
        if wipe_redis:  # Redis restarted empty: only our own keys, never the whole server
            client = aioredis.Redis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=f"{redis_prefix}:*")]
                if keys:
                    await client.delete(*keys)
                assert not await platform.waiting_tasks()
            finally:
                await client.aclose()
        env = {k: v for k, v in ctl.env.items() if k.startswith("CONTACTCORE_")}
        env.pop("CONTACTCORE_CONFIG", None)
        platform.controller = await asyncio.to_thread(
            start_controller, platform.tmp, env, int(ctl.web_url.rsplit(":", 1)[1])
        )

    for wipe in (False, True):
        await restart(wipe)
        assert await platform.wait_waiting("billing", 1) == [due["task_id"]], wipe
        state = await platform.routing.store.read_state()
        assert state["enqueued_at"][due["task_id"]] == pytest.approx(due["enqueued_at"])
        rows = {r.number: r for r in await callbacks_rows(platform)}
        assert rows["+12025550184"].state == "queued"
        assert rows["+12025550183"].state == "pending"
        assert rows["+12025550183"].window_start == pytest.approx(later["window_start"])
        fresh = await api_for(platform)
        status, listed = await fresh.call("GET", "/api/v1/callbacks")
        assert status == 200
        assert {c["id"] for c in listed["callbacks"]} == {due["id"], later["id"]}

    # and the rebuilt callback is still served end to end
    customer = customer_phone(
        platform, customer_port, customer_script(platform.tmp / "customer.xml", "1")
    )
    agent_port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", agent_port)
    phone = platform.phone(agent_port, "agent_auto_answer.xml", talk_ms=8000)
    await platform.agent_available("agent1001")
    served = await wait_callback(platform, "done", timeout=60, id=due["id"])
    assert served.attempts == 1
    await finished(phone)
    await finished(customer)


async def test_the_caller_can_type_another_number_which_is_validated(voice: PlatformRun) -> None:
    platform = await voice.start()
    script = caller_script(
        platform.tmp / "caller-other-number.xml",
        [
            Keys(MENU_KEY_AT_MS, "1"),
            Keys(CALLBACK_KEY_AT_MS, "*"),
            Keys(KEEP_NUMBER_AT_MS, "2"),  # another number
            Keys(3000, "12#"),  # not a valid number in the region: asked again
            Keys(4000, "2025550177#"),
            Keys(3000, "1"),  # "we can call you back on 2025550177": keep it
        ],
        hangs_up=False,
        name="types another number",
    )
    sb = platform.sandbox
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        result = await asyncio.to_thread(sb.run_sipp, script, caller=CALLER, timeout=120)
    assert result.returncode == 0, result.errors()
    made = await wait_callback(platform, "queued")
    assert made.number == "+12025550177"
    (row,) = [r for r in await platform.interactions(timeout=5) if r.channel == "voice"]
    assert row.outcome == "callback"
    requested = next(e for e in row.events if e.type == "callback.requested")
    assert requested.payload["number"] == "+12025550177"
    # what the caller heard of the dialog, in order: the invalid number was refused
    heard: list[str] = []  # started, or failed at once when a prompt file is missing
    seen: set[tuple[str, str]] = set()
    for e in observer.events:
        pb = e.get("playback") or {}
        uri = str(pb.get("media_uri", ""))
        if "contactcore/callback-" in uri and (pb["id"], uri) not in seen:
            seen.add((pb["id"], uri))
            heard.append(uri.removeprefix("sound:contactcore/"))
    dialog = [m for m in heard if not m.startswith("callback-offer")]
    assert dialog[:6] == [
        "callback-number-is",
        "callback-enter-number",
        "callback-invalid-number",
        "callback-enter-number",
        "callback-number-is",
        "callback-confirm",
    ], heard


async def test_at_the_queues_maximum_wait_the_callback_is_offered_once_more(
    voice: PlatformRun,
) -> None:
    # max_wait_action notify (the default): the engine tells the call, which offers
    platform = await voice.start({"billing": {"max_wait_seconds": 5}})
    script = caller_script(
        platform.tmp / "caller-max-wait.xml",
        [Keys(MENU_KEY_AT_MS, "1"), Keys(9000, "*"), Keys(KEEP_NUMBER_AT_MS, "1")],
        hangs_up=False,
        name="takes the offer at the maximum wait",
    )
    sb = platform.sandbox
    result = await asyncio.to_thread(sb.run_sipp, script, caller=CALLER, timeout=120)
    assert result.returncode == 0, result.errors()
    made = await wait_callback(platform, "queued")
    assert made.queue_id == "billing", "offered in the queue, not after overflowing"
    (row,) = [r for r in await platform.interactions(timeout=5) if r.channel == "voice"]
    assert row.outcome == "callback"
    kinds = [e.type for e in row.events]
    assert "queue.max_wait" not in kinds
    assert kinds.index("callback.offered_at_max_wait") < kinds.index("callback.offer_taken")
    entered = next(e for e in row.events if e.type == "queue.entered")
    offered = next(e for e in row.events if e.type == "callback.offered_at_max_wait")
    assert 4.5 <= offered.at - entered.at <= 8.0
    (reached,) = await platform.acd_events("task.max_wait_reached", task_id=entered.task_id)
    assert reached["queue_id"] == "billing"
