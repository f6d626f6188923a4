"""Agents' phones through real Asterisk: ring-no-answer and who gets a call first.

Agent phones are SIPp instances that register with digest authentication; one never
answers (rings until the controller cancels), the others answer. Callers go through
the demo menu (number 100); a VIP customer's number takes the VIP branch.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from contactcore.sandbox.sipp import SippResult, free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.voice_platform import Keys, PlatformRun, caller_script

pytestmark = pytest.mark.e2e

MENU_KEY_AT_MS = 4000
VIP_NUMBER = "2025550101"  # Victoria Hale, tier vip in the demo data


async def finished(phone: subprocess.Popen[str], timeout: float = 40.0) -> str:
    out, _ = await asyncio.to_thread(phone.communicate, timeout=timeout)
    assert phone.returncode == 0, out[-2000:]
    return out


async def test_unanswered_offer_rings_the_next_agent_and_sets_the_first_not_ready(
    voice: PlatformRun,
) -> None:
    offer_timeout = 5
    platform = await voice.start({"billing": {"offer_timeout_seconds": offer_timeout}})
    sb = platform.sandbox
    silent_port, answering_port = free_udp_port(), free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", silent_port)
    await asyncio.to_thread(platform.phone_logs_on, "agent1005", answering_port)
    silent = platform.phone(silent_port, "agent_no_answer.xml", timeout_s=60)
    answering = platform.phone(answering_port, timeout_s=60)
    # longest idle first: agent1001 (billing 9) is offered the call before agent1005
    first = await platform.agent_available("agent1001")
    await asyncio.sleep(0.05)  # a distinct, later idle-since for the second agent
    second = await platform.agent_available("agent1005")

    script = caller_script(platform.tmp / "caller.xml", [Keys(MENU_KEY_AT_MS, "1")])
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        caller = await asyncio.to_thread(
            sb.run_sipp, script, caller="2025550199", timeout=50, extra_args=["-d", "14000"]
        )
        assert caller.returncode == 0, caller.errors()
        await finished(silent)
        await finished(answering)

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    offered = [e.agent_id for e in row.events if e.type == "agent.offered"]
    assert offered == [first.id, second.id]
    (no_answer,) = [e for e in row.events if e.type == "agent.no_answer"]
    assert no_answer.agent_id == first.id
    (answered,) = [e for e in row.events if e.type == "agent.answered"]
    assert answered.agent_id == second.id
    rang = next(e for e in row.events if e.type == "agent.offered")
    assert offer_timeout - 2.5 <= no_answer.at - rang.at <= offer_timeout + 1.0
    (talk,) = [e for e in row.events if e.type == "call.talk_ended"]
    assert talk.agent_id == second.id

    # the first agent's phone rang and was cancelled; the second one's was bridged
    bridged = {e["channel"]["name"] for e in observer.of_type("ChannelEnteredBridge")}
    assert any(name.startswith("PJSIP/agent1005-") for name in bridged)
    assert not any(name.startswith("PJSIP/agent1001-") for name in bridged)

    # RONA: the first agent is not ready with reason no-answer, the task kept its place
    doc = await platform.agent_doc(first.id)
    assert (doc["pr"], doc["rs"]) == ("not_ready", "no-answer")
    (rona,) = await platform.acd_events("task.rona", agent_id=first.id)
    assert rona["task_id"] == answered.task_id
    presence = await platform.acd_events("agent.presence", agent_id=first.id)
    assert presence[-1]["payload"] == {"presence": "not_ready", "reason": "no-answer"}


async def test_vip_caller_overtakes_a_normal_caller_who_waits_longer(voice: PlatformRun) -> None:
    platform = await voice.start()
    sb = platform.sandbox
    normal_script = caller_script(platform.tmp / "normal.xml", [Keys(MENU_KEY_AT_MS, "1")])
    vip_script = caller_script(platform.tmp / "vip.xml", [])  # the VIP branch skips the menu

    def call(script: Path, number: str, hold_ms: int) -> asyncio.Future[SippResult]:
        return asyncio.ensure_future(
            asyncio.to_thread(
                sb.run_sipp, script, caller=number, timeout=50, extra_args=["-d", str(hold_ms)]
            )
        )

    # no agent available: the normal caller waits in billing, then the VIP joins vip
    normal = call(normal_script, "2025550199", 16000)
    await platform.wait_waiting("billing", 1)
    vip = call(vip_script, VIP_NUMBER, 12000)
    await platform.wait_waiting("vip", 1)

    # an agent who serves both queues becomes available: the VIP call comes first
    port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port)
    phone = platform.phone(port, timeout_s=60)
    agent = await platform.agent_available("agent1001")
    for result in await asyncio.gather(normal, vip):
        assert result.returncode == 0, result.errors()
    await finished(phone)

    rows = {r.caller: r for r in await platform.interactions(count=2)}
    first, second = rows["2025550199"], rows[VIP_NUMBER]
    entered = {
        number: next(e for e in row.events if e.type == "queue.entered")
        for number, row in rows.items()
    }
    assert entered["2025550199"].at < entered[VIP_NUMBER].at, "the normal caller came first"
    assert entered[VIP_NUMBER].queue_id == "vip"
    assert second.outcome == "answered"
    (answered,) = [e for e in second.events if e.type == "agent.answered"]
    assert answered.agent_id == agent.id
    assert first.outcome == "abandoned"
    assert not [e for e in first.events if e.type == "agent.offered"]
    (offer,) = await platform.acd_events("task.offered", task_id=entered[VIP_NUMBER].task_id)
    assert offer["agent_id"] == agent.id
