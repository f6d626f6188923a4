"""Identification and verification by DTMF through real Asterisk.

A known customer calls from their number (identified), chooses account questions
(menu key 3) and types a wrong PIN three times: verification locks for the account,
the caller is told and routed on as not verified, and the agent's phone shows it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from contactcore.adapters.db import open_database
from contactcore.sandbox.sipp import free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.voice_platform import Keys, PlatformRun, caller_script

pytestmark = pytest.mark.e2e

CUSTOMER_NUMBER = "2025550103"  # Beth Jones, tier b, account 10000003 (PIN 1357)
ACCOUNT = "10000003"
# After a wrong PIN the controller plays "That PIN is not correct." (about 2 s, not
# interruptible), then the PIN prompt (about 3 s, a key cuts it short); the next
# attempt starts 4 s after the previous "#", well inside that prompt.
ATTEMPT_GAP_MS = 4000


async def test_three_wrong_pins_lock_verification_and_the_caller_goes_on_unverified(
    voice: PlatformRun,
) -> None:
    platform = await voice.start()
    sb = platform.sandbox
    port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port)
    phone = platform.phone(port, timeout_s=80)
    agent = await platform.agent_available("agent1001")  # english 9: serves general

    script = caller_script(
        platform.tmp / "caller.xml",
        [
            Keys(4000, "3"),  # account questions: verify
            Keys(1000, "1111#"),
            Keys(ATTEMPT_GAP_MS, "2580#"),
            Keys(ATTEMPT_GAP_MS, "9999#"),
        ],
        name="wrong pins",
    )
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        caller = await asyncio.to_thread(
            sb.run_sipp, script, caller=CUSTOMER_NUMBER, timeout=60, extra_args=["-d", "12000"]
        )
        assert caller.returncode == 0, caller.errors()
        phone_out, _ = await asyncio.to_thread(phone.communicate, timeout=30)
        assert phone.returncode == 0, phone_out[-2000:]

    (row,) = await platform.interactions()
    idv = [e.payload for e in row.events if e.type == "ivr.idv"]
    assert idv[0]["outcome"] == "identified"
    verify = [p for p in idv if p["step"] == "verify"]
    assert [p["outcome"] for p in verify] == ["wrong_pin", "wrong_pin", "failed"]
    assert [p.get("attempts_left") for p in verify[:2]] == [2, 1]
    assert verify[-1]["reason"] == "locked"
    assert verify[-1]["locked_until"] > time.time() + 60
    pins = [e.payload for e in row.events if e.type == "ivr.digits" and e.payload["field"] == "pin"]
    assert [p["digits"] for p in pins] == ["****"] * 3, "PINs are never written down"

    # told, then routed on as not verified: general queue, answered, shown to the agent
    played = [
        e["playback"]["media_uri"]
        for e in observer.of_type("PlaybackStarted")
        if e["playback"]["media_uri"].startswith("sound:contactcore/")
    ]
    assert played.count("sound:contactcore/wrong-pin") == 2
    assert "sound:contactcore/verify-locked" in played
    entered = next(e for e in row.events if e.type == "queue.entered")
    assert entered.queue_id == "general"
    assert row.outcome == "answered"
    (answered,) = [e for e in row.events if e.type == "agent.answered"]
    assert answered.agent_id == agent.id
    agent_legs = [
        e["channel"]
        for e in observer.of_type("ChannelEnteredBridge")
        if e["channel"]["name"].startswith("PJSIP/agent1001-")
    ]
    assert agent_legs
    shown = agent_legs[0]["caller"]["name"] + agent_legs[0]["connected"]["name"]
    assert "Beth Jones" in shown
    assert "NOT verified" in shown

    # the lock is stored (it survives a restart) for the account
    db = await open_database(platform.controller.database_url)
    try:
        lock = await db.locks.get(ACCOUNT)
    finally:
        await db.close()
    assert lock.is_locked(time.time())
