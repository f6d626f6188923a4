"""A caller's whole journey through real Asterisk: IVR menu -> queue -> agent -> wrap-up.

The caller is SIPp pressing a menu key; the agent is a SIP phone (SIPp) that registers
with digest authentication and answers; the routing engine runs in the controller on
real Redis. Assertions are on SIPp's results, the ARI events an independent observer
saw, the routing state and the interaction's timeline in the database.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from contactcore.acd.model import AgentConfig, Presence
from contactcore.acd.service import RoutingService
from contactcore.adapters.db import open_database, upgrade
from contactcore.adapters.db.demo import seed_demo
from contactcore.adapters.db.records import AgentRecord, InteractionRecord
from contactcore.adapters.db.wfm_store import SqlIntervalStore
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.core.clock import SystemClock
from contactcore.core.wfm import IntervalStat
from contactcore.sandbox.sipp import free_udp_port
from contactcore.sandbox.testkit import SIPP_DIR, E2ESandbox
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.controller import Controller, start_controller

pytestmark = pytest.mark.e2e


@dataclass
class Platform:
    controller: Controller
    routing: RoutingService
    agents: dict[str, AgentRecord]
    sandbox: E2ESandbox
    tmp: Path

    async def agent_available(self, username: str) -> AgentRecord:
        agent = self.agents[username]
        config = AgentConfig(id=agent.id, skills=agent.skills, capacity=agent.capacities)
        await self.routing.login(config, Presence.AVAILABLE)
        return agent

    def phone_logs_on(self, username: str, port: int) -> None:
        """Register the agent's phone from ``port`` (digest auth), as a softphone would."""
        proc = subprocess.run(
            [
                "sipp",
                "-sf",
                str(SIPP_DIR / "agent_login.xml"),
                "-s",
                username,
                "-au",
                username,
                "-ap",
                f"pw-{username}",
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                "1",
                "-timeout",
                "10s",
                "-timeout_error",
                "-nostdin",
                self.sandbox.sip_target,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stdout[-2000:]

    def phone_answers(self, port: int) -> subprocess.Popen[str]:
        """The agent's phone, waiting for one call: answers it and talks until hung up."""
        return subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(SIPP_DIR / "agent_answer.xml"),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-mp",
                str(free_udp_port()),
                "-m",
                "1",
                "-timeout",
                "90s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
                "-error_file",
                str(self.tmp / f"agent-{port}-errors.log"),
                self.sandbox.sip_target,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    async def interactions(self, timeout: float = 10.0) -> list[InteractionRecord]:
        """Every interaction, once all are closed (the record is written as the call ends)."""
        db = await open_database(self.controller.database_url)
        try:
            for _ in range(int(timeout * 10)):
                rows = await db.interactions.list_interactions(0, time.time() + 60)
                if rows and all(r.ended_at is not None for r in rows):
                    break
                await asyncio.sleep(0.1)
            found = [await db.interactions.get_interaction(r.id) for r in rows]
            return [r for r in found if r is not None]
        finally:
            await db.close()


@pytest.fixture
async def platform(
    asterisk_sandbox: E2ESandbox, redis_prefix: str, tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[Platform]:
    url = f"sqlite:///{tmp_path / 'contactcore.db'}"
    await upgrade(url)
    db = await open_database(url)
    try:
        await seed_demo(db)
        agents = {a.username: a for a in await db.agents.list()}
    finally:
        await db.close()
    s = asterisk_sandbox.settings
    env = {
        "CONTACTCORE_ARI__URL": s.ari.url,
        "CONTACTCORE_ARI__USERNAME": s.ari.username,
        "CONTACTCORE_ARI__PASSWORD": s.ari.password,
        "CONTACTCORE_REDIS__KEY_PREFIX": redis_prefix,
    }
    ctl = await asyncio.to_thread(start_controller, tmp_path, env, unused_tcp_port)
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    routing = RoutingService(RedisRoutingStore(client, redis_prefix), SystemClock())
    try:
        yield Platform(ctl, routing, agents, asterisk_sandbox, tmp_path)
    finally:
        await asyncio.to_thread(ctl.stop)
        await client.aclose()


async def test_caller_chooses_billing_and_is_connected_to_the_billing_agent(
    platform: Platform,
) -> None:
    sb = platform.sandbox
    port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port)
    phone = platform.phone_answers(port)
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
