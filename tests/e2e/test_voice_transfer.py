"""Blind transfer by the agent to another queue, through real Asterisk.

A known customer verifies with her PIN and waits in general; agent A (general, no
billing) answers and transfers her through the API to billing. The request goes to a
second controller process (same Redis and database, another ARI application) that does
not carry the call: it reaches the call's owner over the event stream. A's phone is hung up
and A wraps up the old task; the caller hears billing's music as a new task and agent
B's phone rings showing her name and "verified": nobody asked her again. The
interaction keeps one timeline with the transfer on it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from contactcore.sandbox.sipp import SippResult, free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.controller import REPO, Controller, start_controller
from contactcore.testing.voice_platform import Keys, PlatformRun, VoicePlatform, caller_script

pytestmark = pytest.mark.e2e

CUSTOMER_NUMBER = "2025550103"  # Beth Jones, identified by her number; PIN 1357


def flows_where_verified_callers_wait_in_general(tmp: Path) -> Path:
    """The demo flows, except that verified account questions go to general."""
    flows = tmp / "dialplans"
    shutil.copytree(REPO / "dialplans", flows)
    main = flows / "main.yaml"
    text = main.read_text()
    old = "    attributes: {topic: account}\n    skills: {billing: 1}\n    next: queue-billing\n"
    assert old in text, "the demo flow changed: adjust this test"
    main.write_text(
        text.replace(old, "    attributes: {topic: account}\n    next: queue-general\n")
    )
    return flows


async def finished(phone: subprocess.Popen[str], timeout: float = 40.0) -> str:
    out, _ = await asyncio.to_thread(phone.communicate, timeout=timeout)
    assert phone.returncode == 0, out[-2000:]
    return out


def verified_caller(
    platform: VoicePlatform, hang_up_after_ms: int | None = None
) -> asyncio.Future[SippResult]:
    """Beth Jones calls, chooses account questions, types her PIN and waits in general
    until the far end hangs up (or hangs up herself ``hang_up_after_ms`` after the PIN)."""
    script = caller_script(
        platform.tmp / "caller.xml",
        [Keys(4000, "3"), Keys(1000, "1357#")],
        hangs_up=hang_up_after_ms is not None,
        name="verified caller",
    )
    extra = ["-d", str(hang_up_after_ms)] if hang_up_after_ms is not None else []
    return asyncio.ensure_future(
        asyncio.to_thread(
            platform.sandbox.run_sipp, script, caller=CUSTOMER_NUMBER, timeout=70,
            extra_args=extra,
        )
    )  # fmt: skip


def hang_up_phones(*phones: subprocess.Popen[str]) -> None:
    """A failed run must not leave phones behind."""
    for phone in phones:
        if phone.poll() is None:
            phone.kill()
            phone.wait(5)


async def start(voice: PlatformRun, tmp: Path) -> VoicePlatform:
    return await voice.start(
        env={
            "CONTACTCORE_CONTROLLER__DIALPLANS_DIR": str(
                flows_where_verified_callers_wait_in_general(tmp)
            ),
            "CONTACTCORE_WEB__COOKIE_SECURE": "false",
        }
    )


def second_controller(platform: VoicePlatform, tmp: Path, web_port: int) -> Controller:
    """Another controller on the same Redis and database that carries no calls (its own
    ARI application, which no dialplan enters)."""
    tmp.mkdir()
    own = ("CONTACTCORE_CONFIG", "CONTACTCORE_WEB__PORT", "CONTACTCORE_LOG__DIR")
    env = {
        k: v
        for k, v in platform.controller.env.items()
        if k.startswith("CONTACTCORE_") and k not in own
    }
    env |= {
        "DATABASE_URL": platform.controller.database_url,
        "CONTACTCORE_ARI__APP": "contactcore-web",
    }
    return start_controller(tmp, env, web_port)


async def test_agent_transfers_a_verified_caller_to_billing_keeping_her_context(
    voice: PlatformRun, tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> None:
    platform = await start(voice, tmp_path)
    web = await asyncio.to_thread(
        second_controller, platform, tmp_path / "web", unused_tcp_port_factory()
    )
    sb = platform.sandbox
    port_a, port_b = free_udp_port(), free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1002", port_a)
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port_b)
    phone_a = platform.phone(port_a, timeout_s=80)  # talks until hung up
    phone_b = platform.phone(port_b, "agent_auto_answer.xml", talk_ms=3000, timeout_s=80)
    agent_a = await platform.agent_available("agent1002")  # english 7, no billing

    try:
        async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
            caller = verified_caller(platform)
            old_task = await platform.wait_call_in_hand(agent_a.id, timeout=40)
            agent_b = await platform.agent_available("agent1001")  # billing 9
            await asyncio.sleep(1.0)  # A and the caller talk a little
            status, body = await platform.api(
                "agent1002",
                "POST",
                f"/api/v1/agents/{agent_a.id}/transfer",
                {"queue": "billing"},
                web_url=web.web_url,  # not the process that carries the call
            )
            assert status == 202, body
            assert (body["task_id"], body["from_queue"], body["queue"]) == (
                old_task,
                "general",
                "billing",
            )
            await finished(phone_a)  # A's phone was hung up by the transfer
            new_task = await platform.wait_call_in_hand(agent_b.id, timeout=30)
            result = await caller
            assert result.returncode == 0, result.errors()
            await finished(phone_b)

    finally:
        await asyncio.to_thread(web.stop)
        hang_up_phones(phone_a, phone_b)

    assert new_task != old_task
    # B's phone showed who it is and that she was verified
    bridged = {e["channel"]["name"]: e["channel"] for e in observer.of_type("ChannelEnteredBridge")}
    (leg_b,) = [c for name, c in bridged.items() if name.startswith("PJSIP/agent1001-")]
    shown = leg_b["caller"]["name"] + leg_b["connected"]["name"]
    assert "Beth Jones" in shown
    assert "(verified)" in shown, shown
    assert any(name.startswith("PJSIP/agent1002-") for name in bridged)
    # asked for her PIN once, never again; music in billing while she waited
    played = [e["playback"]["media_uri"] for e in observer.of_type("PlaybackStarted")]
    assert played.count("sound:contactcore/account-pin") == 1

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    kinds = [e.type for e in row.events]
    idv = [e.payload for e in row.events if e.type == "ivr.idv" and e.payload["step"] == "verify"]
    assert [p["outcome"] for p in idv] == ["verified"]
    entered = [e for e in row.events if e.type == "queue.entered"]
    assert [(e.queue_id, e.task_id) for e in entered] == [
        ("general", old_task),
        ("billing", new_task),
    ]
    assert entered[1].payload["transferred_from"] == "general"
    (asked,) = [e for e in row.events if e.type == "call.transfer_requested"]
    assert (asked.task_id, asked.agent_id, asked.payload["queue"]) == (
        old_task,
        agent_a.id,
        "billing",
    )
    (moved,) = [e for e in row.events if e.type == "call.transferred"]
    assert (moved.task_id, moved.agent_id, moved.queue_id) == (old_task, agent_a.id, "general")
    assert moved.payload["to_queue"] == "billing"
    assert moved.payload["outcome"] == "transferred"
    talks = [(e.agent_id, e.payload["by"]) for e in row.events if e.type == "call.talk_ended"]
    assert talks == [(agent_a.id, "transfer"), (agent_b.id, "agent")]
    answered = [e.agent_id for e in row.events if e.type == "agent.answered"]
    assert answered == [agent_a.id, agent_b.id]
    b_answered = next(
        i
        for i, e in enumerate(row.events)
        if e.type == "agent.answered" and e.agent_id == agent_b.id
    )
    assert kinds.index("call.transferred") < b_answered

    # A wrapped up the old task (completed in general); B got the new one in billing
    (done,) = await platform.acd_events("task.completed", task_id=old_task)
    assert (done["agent_id"], done["queue_id"]) == (agent_a.id, "general")
    (wrap,) = await platform.acd_events("agent.wrapup_started", task_id=old_task)
    assert wrap["agent_id"] == agent_a.id
    (offer,) = await platform.acd_events("task.offered", task_id=new_task)
    assert (offer["agent_id"], offer["queue_id"]) == (agent_b.id, "billing")
    # asked in one process, carried out by the one that carries the call
    assert f"transfer of task {old_task} " in web.log_text()
    assert "transfers general to billing" in platform.controller.log_text()
    assert "transfers general to billing" not in web.log_text()


async def test_agent_transfers_by_sip_refer_from_the_phone(
    voice: PlatformRun, tmp_path: Path
) -> None:
    """The agent's phone sends a blind REFER to the extension ``billing``: Asterisk reports
    it (ChannelTransfer, PJSIP transfer handling ari-only on agent legs) and the call's
    owner transfers exactly as for the API; the phone gets NOTIFY 200 OK, then BYE."""
    platform = await start(voice, tmp_path)
    sb = platform.sandbox
    port_a, port_b = free_udp_port(), free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1002", port_a)
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port_b)
    phone_a = platform.phone(
        port_a, "agent_refer.xml", talk_ms=2000, timeout_s=80,
        extra_args=["-key", "refer_to", "billing"],
    )  # fmt: skip
    phone_b = platform.phone(port_b, "agent_auto_answer.xml", talk_ms=3000, timeout_s=80)
    agent_a = await platform.agent_available("agent1002")
    try:
        async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
            caller = verified_caller(platform)
            old_task = await platform.wait_call_in_hand(agent_a.id, timeout=40)
            agent_b = await platform.agent_available("agent1001")
            await finished(phone_a)  # REFER, NOTIFY 100 and 200, BYE
            new_task = await platform.wait_call_in_hand(agent_b.id, timeout=30)
            result = await caller
            assert result.returncode == 0, result.errors()
            await finished(phone_b)
    finally:
        hang_up_phones(phone_a, phone_b)

    # the phone's REFER, then the outcome the controller reported (sent to the phone as
    # NOTIFY, and echoed as an event with a state)
    refers = observer.of_type("ChannelTransfer")
    assert [r.get("state") for r in refers] == [None, "channel_answered"], refers
    refer = refers[0]
    assert refer["refer_to"]["requested_destination"]["destination"] == "billing"
    assert refer["referred_by"]["source_channel"]["name"].startswith("PJSIP/agent1002-")
    bridged = {e["channel"]["name"]: e["channel"] for e in observer.of_type("ChannelEnteredBridge")}
    (leg_b,) = [c for name, c in bridged.items() if name.startswith("PJSIP/agent1001-")]
    assert "Beth Jones (verified)" in leg_b["caller"]["name"] + leg_b["connected"]["name"]

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    (asked,) = [e for e in row.events if e.type == "call.transfer_requested"]
    assert (asked.task_id, asked.payload["queue"], asked.payload["via"]) == (
        old_task,
        "billing",
        "refer",
    )
    (moved,) = [e for e in row.events if e.type == "call.transferred"]
    assert (moved.task_id, moved.payload["new_task_id"]) == (old_task, new_task)
    talks = [(e.agent_id, e.payload["by"]) for e in row.events if e.type == "call.talk_ended"]
    assert talks == [(agent_a.id, "transfer"), (agent_b.id, "agent")]
    (wrap,) = await platform.acd_events("agent.wrapup_started", task_id=old_task)
    assert wrap["agent_id"] == agent_a.id


async def test_a_refer_to_an_unknown_queue_is_declined_and_the_call_goes_on(
    voice: PlatformRun, tmp_path: Path
) -> None:
    platform = await start(voice, tmp_path)
    sb = platform.sandbox
    port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1002", port)
    phone = platform.phone(
        port, "agent_refer.xml", talk_ms=1000, timeout_s=80,
        extra_args=["-key", "refer_to", "nowhere"],
    )  # fmt: skip
    agent = await platform.agent_available("agent1002")
    try:
        async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
            caller = verified_caller(platform, hang_up_after_ms=12000)
            task = await platform.wait_call_in_hand(agent.id, timeout=40)
            result = await caller
            assert result.returncode == 0, result.errors()
            await finished(phone)  # declined, then BYE once the caller hung up
    finally:
        hang_up_phones(phone)

    refers = observer.of_type("ChannelTransfer")
    assert [r.get("state") for r in refers] == [None, "channel_declined"], refers
    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    (failed,) = [e for e in row.events if e.type == "call.transfer_failed"]
    assert (failed.task_id, failed.payload["to_queue"]) == (task, "nowhere")
    assert not [e for e in row.events if e.type == "call.transferred"]
    (talk,) = [e for e in row.events if e.type == "call.talk_ended"]
    assert (talk.agent_id, talk.payload["by"]) == (agent.id, "caller")
    assert talk.at - failed.at >= 3, "the call stayed up after the refused transfer"
