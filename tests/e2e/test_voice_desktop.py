"""The agent desktop's API during a real call: the ringing call with its caller's
context, the desktop's refusal to accept or reject it, and the disposition after the
call, stored with the call's interaction. Real Asterisk, SIPp phones, the controller."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import aiohttp
import pytest

from contactcore.sandbox.sipp import free_udp_port
from contactcore.testing.voice_platform import Keys, PlatformRun, caller_script

pytestmark = pytest.mark.e2e

CUSTOMER_NUMBER = "2025550102"  # Arthur Dent, tier a: identified by the number, not verified


async def finished(phone: subprocess.Popen[str], timeout: float = 60.0) -> str:
    out, _ = await asyncio.to_thread(phone.communicate, timeout=timeout)
    assert phone.returncode == 0, out[-2000:]
    return out


class Desk:
    """One person's browser session against the controller's web app."""

    def __init__(self, port: int) -> None:
        self.http = aiohttp.ClientSession(
            f"http://127.0.0.1:{port}", cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self.csrf = ""

    async def login(self, username: str) -> None:
        resp = await self.http.post(
            "/api/v1/auth/login", json={"username": username, "password": f"demo-{username}"}
        )
        assert resp.status == 200, await resp.text()
        self.csrf = (await resp.json())["csrf_token"]

    async def get(self, path: str) -> Any:
        resp = await self.http.get(path)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.http.post(path, json=body, headers={"X-CSRF-Token": self.csrf})
        return resp.status, await resp.json()

    async def work_until(self, agent_id: str, what: str, check: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(40):
                while True:
                    work: dict[str, Any] = await self.get(f"/api/v1/agents/{agent_id}/work")
                    if check(work):
                        return work
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"not within 40 s: {what}") from None


async def test_desktop_shows_the_ringing_call_and_takes_the_disposition_after_it(
    voice: PlatformRun,
) -> None:
    platform = await voice.start(
        {"billing": {"offer_timeout_seconds": 10}}, env={"CONTACTCORE_WEB__COOKIE_SECURE": "false"}
    )
    sb = platform.sandbox
    silent_port, answering_port = free_udp_port(), free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", silent_port)
    await asyncio.to_thread(platform.phone_logs_on, "agent1005", answering_port)
    silent = platform.phone(silent_port, "agent_no_answer.xml", timeout_s=90)
    answering = platform.phone(answering_port, timeout_s=90)
    first = await platform.agent_available("agent1001")  # longest idle: rung first
    await asyncio.sleep(0.05)
    second = await platform.agent_available("agent1005")

    script = caller_script(platform.tmp / "caller.xml", [Keys(4000, "1")])
    caller = asyncio.create_task(
        asyncio.to_thread(
            sb.run_sipp, script, caller=CUSTOMER_NUMBER, timeout=90, extra_args=["-d", "25000"]
        )
    )
    ringing, talking = Desk(voice.web_port), Desk(voice.web_port)
    try:
        await ringing.login("agent1001")
        work = await ringing.work_until(
            first.id, "the call is offered to agent1001", lambda w: bool(w["tasks"])
        )
        [call] = work["tasks"]
        assert (call["channel"], call["queue"], call["state"]) == ("voice", "billing", "offered")
        assert call["actions"] == []  # answered on the phone, not here
        c = call["customer"]
        assert (c["name"], c["tier"], c["verified"]) == ("Arthur Dent", "a", False)
        assert "menu key 1 -> billing" in c["ivr_path"]
        assert "identify: identified" in c["ivr_path"]
        task = f"/api/v1/agents/{first.id}/tasks/{call['task_id']}"
        status, err = await ringing.post(f"{task}/reject", {})
        assert (status, err["error"]) == (409, "desk.refused"), err
        status, err = await ringing.post(f"{task}/accept")
        assert (status, err["error"]) == (409, "desk.refused"), err

        # the phone rings out (RONA); the next agent answers; the caller hangs up later
        await talking.login("agent1005")
        work = await talking.work_until(
            second.id,
            "agent1005 takes the call and then wraps up",
            lambda w: [x["task_id"] for x in w["wrapups"]] == [call["task_id"]],
        )
        status, done = await talking.post(
            f"/api/v1/agents/{second.id}/wrapup",
            {"task_id": call["task_id"], "disposition": "resolved", "note": "address changed"},
        )
        assert status == 200, done
        assert done["wrapup_ended"] is True
    finally:
        await ringing.http.close()
        await talking.http.close()
    result = await caller
    assert result.returncode == 0, result.errors()
    await finished(silent)
    await finished(answering)

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    assert done["interaction_id"] == row.id
    assert (row.attributes["disposition"], row.attributes["note"]) == (
        "resolved",
        "address changed",
    )
    [stored] = [e for e in row.events if e.type == "task.disposition"]
    assert (stored.task_id, stored.agent_id) == (call["task_id"], second.id)
