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
from typing import Any

import pytest

from contactcore.adapters.db import open_database
from contactcore.adapters.db.records import CallbackRecord, InteractionRecord
from contactcore.sandbox.sipp import free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.callback_phones import (
    customer_phone,
    customer_script,
    dial_string,
)
from contactcore.testing.voice_platform import Keys, PlatformRun, VoicePlatform, caller_script

pytestmark = pytest.mark.e2e

MENU_KEY_AT_MS = 4000  # the billing key cuts the menu short
CALLBACK_KEY_AT_MS = 4000  # after entering the queue: the offer key
KEEP_NUMBER_AT_MS = 4000  # "we can call you back on ... press 1"
CALLER = "2025550188"
CALLER_E164 = "+12025550188"


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
