"""A caller's whole journey through real Asterisk: IVR menu -> queue -> agent -> wrap-up.

The caller is SIPp pressing a menu key; the agent is a SIP phone (SIPp) that registers
with digest authentication and answers; the routing engine runs in the controller on
real Redis. Assertions are on SIPp's results, the ARI events an independent observer
saw, the routing state and the interaction's timeline in the database.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from contactcore.adapters.db import open_database
from contactcore.adapters.db.wfm_store import SqlIntervalStore
from contactcore.core.wfm import IntervalStat
from contactcore.sandbox.sipp import free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.voice_platform import PlatformRun

pytestmark = pytest.mark.e2e


async def test_caller_chooses_billing_and_is_connected_to_the_billing_agent(
    voice: PlatformRun,
) -> None:
    platform = await voice.start()
    sb = platform.sandbox
    port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port)
    phone = platform.phone(port)  # answers and talks until the caller hangs up
    agent = await platform.agent_available("agent1001")  # billing 9, english 9

    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        caller = await asyncio.to_thread(
            sb.run_sipp, "caller_menu.xml", service="100", caller="2025550199", dtmf="1",
            timeout=40, extra_args=["-d", "12000"],
        )  # fmt: skip
        assert caller.returncode == 0, caller.errors()
        phone_out, _ = await asyncio.to_thread(phone.communicate, timeout=30)
        assert phone.returncode == 0, phone_out[-2000:]

    bridged = {e["channel"]["name"]: e["channel"] for e in observer.of_type("ChannelEnteredBridge")}
    assert len(bridged) == 2, "caller and agent were in one bridge"
    (agent_leg,) = [c for name, c in bridged.items() if name.startswith("PJSIP/agent1001-")]
    shown = agent_leg["caller"]["name"] + agent_leg["connected"]["name"]
    assert "unverified" in shown, "the agent's phone shows the caller's verification"

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    kinds = [e.type for e in row.events]
    for kind in ("ivr.flow_entered", "queue.entered", "agent.offered", "agent.answered"):
        assert kind in kinds
    entered = next(e for e in row.events if e.type == "queue.entered")
    assert entered.queue_id == "billing"
    (talk,) = [e for e in row.events if e.type == "call.talk_ended"]
    assert talk.agent_id == agent.id
    assert talk.payload["by"] == "caller"
    assert talk.payload["talk"] >= 2

    snapshot = await platform.routing.store.read_state()
    assert snapshot  # the engine still knows the agent: in wrap-up or available again

    # the planning statistics were brought up to date as the call ended ...
    async def billing_interval() -> IntervalStat:
        db = await open_database(platform.controller.database_url)
        try:
            stats = await SqlIntervalStore(db.engine).load("billing", 0, time.time() + 3600)
        finally:
            await db.close()
        (interval,) = [s for s in stats if s.start <= row.started_at < s.start + s.seconds]
        return interval

    interval = await billing_interval()
    assert (interval.channel, interval.offered, interval.answered) == ("voice", 1, 1)
    assert interval.answered_in_sl == 1
    talk_s = talk.payload["talk"]
    assert interval.handle_seconds == pytest.approx(talk_s, abs=0.2)

    # ... and again when the agent ends the wrap-up (early): handle time includes it
    await asyncio.sleep(1.0)
    await platform.routing.end_wrapup(agent.id)
    for _ in range(100):
        interval = await billing_interval()
        if interval.handle_seconds >= talk_s + 0.8:
            break
        await asyncio.sleep(0.1)
    assert interval.handle_seconds >= talk_s + 0.8
    assert interval.answered == 1
