"""The foundation, end to end: real Asterisk, real SIP calls, the real controller process.

Each test asserts on what really happened: SIPp's own statistics, the ARI events an
independent observer application saw, and the rows the controller wrote.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from contactcore.adapters.db import open_database
from contactcore.adapters.db.records import InteractionRecord
from contactcore.sandbox.testkit import E2ESandbox
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.controller import Controller, start_controller

pytestmark = pytest.mark.e2e

LINE_TEST = "199"


def controller_env(sandbox: E2ESandbox, redis_prefix: str) -> dict[str, str]:
    s = sandbox.settings
    return {
        "CONTACTCORE_ARI__URL": s.ari.url,
        "CONTACTCORE_ARI__USERNAME": s.ari.username,
        "CONTACTCORE_ARI__PASSWORD": s.ari.password,
        "CONTACTCORE_ARI__APP": s.ari.app,
        "CONTACTCORE_ARI__RECONNECT_MAX": "1.0",
        "CONTACTCORE_REDIS__KEY_PREFIX": redis_prefix,
    }


@pytest.fixture
def controller(
    asterisk_sandbox: E2ESandbox, redis_prefix: str, tmp_path: Path, unused_tcp_port: int
) -> Iterator[Controller]:
    ctl = start_controller(
        tmp_path, controller_env(asterisk_sandbox, redis_prefix), unused_tcp_port
    )
    try:
        yield ctl
    finally:
        ctl.stop()


async def interactions(ctl: Controller) -> list[InteractionRecord]:
    db = await open_database(ctl.database_url)
    try:
        rows = await db.interactions.list_interactions(0, time.time() + 60)
        return [r for r in [await db.interactions.get_interaction(x.id) for x in rows] if r]
    finally:
        await db.close()


def metric(ctl: Controller, name: str) -> float:
    with urllib.request.urlopen(ctl.web_url + "/metrics", timeout=2) as resp:
        text = resp.read().decode()
    match = re.search(rf"^{name}(?:_total)? ([0-9.e+]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_call_is_answered_greeted_takes_a_digit_and_is_recorded(
    asterisk_sandbox: E2ESandbox, controller: Controller
) -> None:
    sb = asterisk_sandbox
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        result = await asyncio.to_thread(
            sb.run_sipp, "caller_dtmf.xml", service=LINE_TEST, caller="5551234", dtmf="5"
        )
        assert result.returncode == 0, result.errors()
        assert result.successful == 1
        await observer.wait_for(lambda e: e["type"] == "ChannelDestroyed")

    dtmf = observer.of_type("ChannelDtmfReceived")
    assert [e["digit"] for e in dtmf] == ["5"]
    played = [e["playback"]["media_uri"] for e in observer.of_type("PlaybackStarted")]
    assert "sound:hello-world" in played
    assert "digits:5" in played, "the key is read back to the caller"

    (row,) = await interactions(controller)
    assert row.caller == "5551234"
    assert row.called == LINE_TEST
    assert row.outcome == "completed"
    assert row.ended_at is not None
    assert row.ended_at >= row.started_at
    kinds = [e.type for e in row.events]
    assert kinds[0] == "call.answered"
    assert kinds[-1] == "call.ended"
    (digits,) = [e for e in row.events if e.type == "ivr.digits"]
    assert digits.payload == {"digits": "5"}
    assert row.started_at <= digits.at <= row.ended_at


async def test_controller_survives_an_asterisk_restart(
    asterisk_sandbox: E2ESandbox, controller: Controller
) -> None:
    assert controller.health()[1]["checks"]["asterisk"]["ok"] is True
    await asyncio.to_thread(asterisk_sandbox.sandbox.down)
    try:
        for _ in range(150):
            if controller.health()[0] != 200:
                break
            await asyncio.sleep(0.1)
        status, body = controller.health()
        assert status == 503
        assert body["checks"]["asterisk"]["ok"] is False
        assert body["checks"]["redis"]["ok"] is True
    finally:
        await asyncio.to_thread(asterisk_sandbox.sandbox.up)
    await asyncio.to_thread(controller.wait_healthy, 30)
    assert "ARI event stream lost" in controller.log_text()
    assert metric(controller, "contactcore_ari_reconnects") >= 1

    result = await asyncio.to_thread(
        asterisk_sandbox.run_sipp, "caller_dtmf.xml", service=LINE_TEST, dtmf="3"
    )
    assert result.returncode == 0, result.errors()
    rows = await interactions(controller)
    assert [r.outcome for r in rows] == ["completed"]
    assert any(e.payload == {"digits": "3"} for e in rows[0].events)


async def test_fifty_calls_at_ten_per_second_all_complete(
    asterisk_sandbox: E2ESandbox, controller: Controller
) -> None:
    result = await asyncio.to_thread(
        asterisk_sandbox.run_sipp,
        "caller_dtmf.xml",
        service=LINE_TEST,
        dtmf="7",
        calls=50,
        rate=10,
        timeout=120,
    )
    assert result.returncode == 0, result.errors()
    assert (result.successful, result.failed) == (50, 0)
    rows = await interactions(controller)
    assert len(rows) == 50
    assert {r.outcome for r in rows} == {"completed"}
    assert all(any(e.payload == {"digits": "7"} for e in r.events) for r in rows)


async def test_sigterm_lets_the_call_in_progress_finish(
    asterisk_sandbox: E2ESandbox, controller: Controller
) -> None:
    call = asyncio.create_task(
        asyncio.to_thread(asterisk_sandbox.run_sipp, "caller_dtmf.xml", service=LINE_TEST, dtmf="9")
    )
    deadline = time.monotonic() + 15
    while metric(controller, "contactcore_calls_active") < 1:
        assert time.monotonic() < deadline, "the call never reached the controller"
        await asyncio.sleep(0.05)
    controller.proc.terminate()
    result = await call
    assert result.returncode == 0, result.errors()
    assert await asyncio.to_thread(controller.proc.wait, 30) == 0
    (row,) = await interactions(controller)
    assert row.outcome == "completed"
    assert any(e.payload == {"digits": "9"} for e in row.events)
    assert "stopping: no new calls; 1 in progress" in controller.log_text()
