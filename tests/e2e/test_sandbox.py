"""The sandbox against real Asterisk: life cycle, a SIPp call into Stasis, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import socket
import struct
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contactcore.cli import main
from contactcore.errors import SandboxError
from contactcore.sandbox import process
from contactcore.sandbox.service import Sandbox, SandboxConfig
from contactcore.sandbox.sipp import SippResult
from contactcore.sandbox.testkit import E2ESandbox, e2e_settings

pytestmark = pytest.mark.e2e

_RECORDING_ENDS = {"RecordingFinished", "RecordingFailed"}


def _rtp_sockets(pid: int, lo: int, hi: int) -> list[tuple[str, int]]:
    """(hex local address, port) of the process's UDP sockets in the RTP range."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        addr, port = f[1].split(":")
        if f[9] in inodes and lo <= int(port, 16) <= hi:
            found.append((addr, int(port, 16)))
    return found


async def _call_into_stasis(
    sb: E2ESandbox, digit: str, media: str = "sound:hello-world", record: str | None = None
) -> tuple[list[dict[str, Any]], SippResult, list[tuple[str, int]]]:
    """Place one SIPp call and drive it over ARI: answer, play, await DTMF, hang up.

    Returns the ARI events, SIPp's result and the call's RTP sockets (seen mid-call).
    """
    events: list[dict[str, Any]] = []
    rtp: list[tuple[str, int]] = []
    base = f"{sb.ari_url}/ari"
    async with (
        aiohttp.ClientSession(headers=sb.ari_headers) as http,
        http.ws_connect(sb.ari_ws_url) as ws,
    ):
        sipp = asyncio.create_task(
            asyncio.to_thread(sb.run_sipp, "caller_dtmf.xml", dtmf=digit, timeout=30)
        )
        channel = ""
        async with asyncio.timeout(40):
            async for msg in ws:
                event = json.loads(msg.data)
                events.append(event)
                kind = event["type"]
                if kind == "StasisStart":
                    channel = event["channel"]["id"]
                    answer = await http.post(f"{base}/channels/{channel}/answer")
                    assert answer.status == 204
                    play = await http.post(
                        f"{base}/channels/{channel}/play", params={"media": media}
                    )
                    assert play.status == 201
                    if record:
                        params = {"name": record, "format": "wav", "ifExists": "overwrite"}
                        rec = await http.post(f"{base}/channels/{channel}/record", params=params)
                        assert rec.status == 201, await rec.text()
                elif kind == "ChannelDtmfReceived":
                    pid = sb.sandbox.servers()[0]
                    s = sb.settings.sandbox
                    rtp = _rtp_sockets(pid, s.rtp_start, s.rtp_end)
                    hangup = await http.delete(f"{base}/channels/{channel}")
                    assert hangup.status == 204
                kinds = {e["type"] for e in events}
                if "StasisEnd" in kinds and (not record or kinds & _RECORDING_ENDS):
                    break
        result = await sipp
    return events, result, rtp


async def test_sipp_call_reaches_stasis_and_sends_dtmf(asterisk_sandbox: E2ESandbox) -> None:
    events, result, rtp = await _call_into_stasis(asterisk_sandbox, "5")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "StasisStart"
    start = events[0]
    assert start["channel"]["caller"]["number"] == "5551000"
    assert start["channel"]["dialplan"]["exten"] == "100"
    assert start["args"] == ["incoming"]
    assert "PlaybackStarted" in kinds
    digits = [e["digit"] for e in events if e["type"] == "ChannelDtmfReceived"]
    assert digits == ["5"]
    assert kinds[-1] == "StasisEnd"
    # RTP of the call was bound to loopback only (0100007F is 127.0.0.1 in /proc).
    assert rtp
    assert {addr for addr, _ in rtp} == {"0100007F"}
    assert result.returncode == 0, result.errors()
    assert (result.successful, result.failed) == (1, 0)


def test_call_without_controller_is_declined(asterisk_sandbox: E2ESandbox) -> None:
    result = asterisk_sandbox.run_sipp("caller_basic.xml", timeout=15)
    assert result.returncode == 1
    assert result.failed == 1
    assert "603 Decline" in result.errors()


def test_cli_status_and_command(
    asterisk_sandbox: E2ESandbox, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = asterisk_sandbox.settings.sandbox
    for key, value in {
        "ROOT": str(s.root), "SIP_PORT": s.sip_port, "ARI_PORT": s.ari_port,
        "RTP_START": s.rtp_start, "RTP_END": s.rtp_end,
    }.items():  # fmt: skip
        monkeypatch.setenv(f"CONTACTCORE_SANDBOX__{key}", str(value))
    monkeypatch.setenv("CONTACTCORE_ARI__URL", asterisk_sandbox.ari_url)
    assert main(["sandbox", "status", "--instance", s.instance]) == 0
    out = capfd.readouterr().out
    assert f"instance '{s.instance}': running" in out
    assert "Asterisk 22." in out
    assert "(reachable)" in out
    assert (
        main(["sandbox", "cli", "--instance", s.instance, "pjsip", "show", "endpoint", "caller"])
        == 0
    )
    assert "caller" in capfd.readouterr().out
    assert main(["sandbox", "cli", "--instance", "absent", "core", "show", "version"]) == 1
    assert "is not running" in capfd.readouterr().err


async def test_life_cycle_of_a_second_instance(tmp_path: Path) -> None:
    """up, status, up again, reload, restart, a call, down: and nothing left behind."""
    settings = e2e_settings(slot=1, name="life")
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    _tone(sounds / "e2e-tone.wav", seconds=0.4)
    settings = settings.model_copy(
        update={"controller": settings.controller.model_copy(update={"sounds_dir": sounds})}
    )
    config_dir = tmp_path / "asterisk"
    shutil.copytree(SandboxConfig.from_settings(settings).config_dir, config_dir)
    config = replace(SandboxConfig.from_settings(settings), config_dir=config_dir)
    lines: list[str] = []
    sandbox = Sandbox(config, progress=lines.append)
    sandbox.down()
    try:
        first = sandbox.up()
        assert first.action == "started"
        assert first.version.startswith("Asterisk 22.")
        status = sandbox.status()
        assert status.running
        assert status.ari_reachable
        assert status.pid == first.pid
        assert status.uptime is not None
        assert status.uptime < 60

        again = sandbox.up()
        assert (again.action, again.pid) == ("running", first.pid)

        with (config_dir / "extensions.conf").open("a") as f:
            f.write("\n[e2e-extra]\nexten => 1,1,Hangup()\n")
        reloaded = sandbox.up()
        assert (reloaded.action, reloaded.pid) == ("reloaded", first.pid)
        shown = sandbox.asterisk_cli("dialplan show e2e-extra").stdout
        assert "Hangup()" in shown

        moved = replace(config, sip_port=config.sip_port + 1)
        sandbox = Sandbox(moved, progress=lines.append)
        restarted = sandbox.up()
        assert restarted.action == "restarted"
        assert restarted.pid != first.pid
        assert not process.alive(first.pid)
        transport = sandbox.asterisk_cli("pjsip show transport transport-udp").stdout
        assert f"127.0.0.1:{moved.sip_port}" in transport

        other = E2ESandbox(sandbox, settings.model_copy(
            update={"sandbox": settings.sandbox.model_copy(update={"sip_port": moved.sip_port})}
        ), tmp_path / "sipp")  # fmt: skip
        recording = sandbox.paths.recordings / "e2e-life.wav"
        recording.unlink(missing_ok=True)
        events, result, _ = await _call_into_stasis(
            other, "9", media="sound:contactcore/e2e-tone", record="e2e-life"
        )
        assert [e["digit"] for e in events if e["type"] == "ChannelDtmfReceived"] == ["9"]
        assert result.returncode == 0, result.errors()
        # The project's own prompt was installed and played to the end.
        finished = [e["playback"] for e in events if e["type"] == "PlaybackFinished"]
        assert [(p["media_uri"], p["state"]) for p in finished] == [
            ("sound:contactcore/e2e-tone", "done")
        ]
        # Recording works: the spool's recording directory exists inside the root.
        kinds = [e["type"] for e in events]
        assert "RecordingStarted" in kinds
        assert "RecordingFinished" in kinds
        # SIPp sends no voice (only the key press), so the file may hold just a header.
        assert recording.is_file()
        pid = restarted.pid
    finally:
        stopped = sandbox.down()
    assert stopped == [pid]
    assert not process.alive(pid)
    assert sandbox.servers() == []
    leftovers = _processes_mentioning(config.root, f"asterisk-{config.instance}/".encode())
    assert leftovers == []
    assert not sandbox.paths.pid_file.exists()
    assert sandbox.down() == []
    assert not sandbox.status().running


def _processes_mentioning(root: Path, marker: bytes) -> list[int]:
    """Live processes running inside ``root`` whose command line contains ``marker``."""
    want = str(root.resolve())
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and process.alive(int(p.name))
        and _root_of(p) == want
        and marker in _cmdline(p)
    ]


def _root_of(p: Path) -> str:
    try:
        return os.readlink(p / "root")
    except OSError:
        return ""


def _cmdline(p: Path) -> bytes:
    try:
        return (p / "cmdline").read_bytes()
    except OSError:
        return b""


def _tone(path: Path, seconds: float) -> None:
    """A 440 Hz tone as Asterisk wants prompts: 8 kHz, mono, 16-bit."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 8000)))
        for n in range(int(8000 * seconds))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)


def test_taken_port_is_reported_with_its_owner() -> None:
    settings = e2e_settings(slot=2, name="busy")
    port = settings.sandbox.sip_port
    sandbox = Sandbox(SandboxConfig.from_settings(settings))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))
        with pytest.raises(SandboxError) as err:
            sandbox.up()
    line = str(err.value)
    assert f"port {port}/udp on 127.0.0.1 is taken by PID {os.getpid()}" in line
    assert "CONTACTCORE_SANDBOX__SIP_PORT" in line
    assert sandbox.servers() == []


def test_overlapping_rtp_range_is_refused(asterisk_sandbox: E2ESandbox) -> None:
    s = asterisk_sandbox.settings.sandbox
    settings = e2e_settings(slot=3, name="overlap")
    config = replace(
        SandboxConfig.from_settings(settings), rtp_start=s.rtp_start + 50, rtp_end=s.rtp_start + 99
    )
    sandbox = Sandbox(config)
    with pytest.raises(SandboxError, match=f"overlap those of running instance '{s.instance}'"):
        sandbox.up()
    assert sandbox.servers() == []


async def test_agent_phone_registers_with_digest_auth(asterisk_sandbox: E2ESandbox) -> None:
    """An agent endpoint takes a registration from 127.0.0.1 despite the caller's identify."""
    sb = asterisk_sandbox
    states: list[str] = []
    async with (
        aiohttp.ClientSession(headers=sb.ari_headers) as http,
        http.ws_connect(sb.ari_ws_url) as ws,
    ):
        sub = await http.post(
            f"{sb.ari_url}/ari/applications/{sb.ari_app}/subscription",
            params={"eventSource": "endpoint:PJSIP/agent1001"},
        )
        assert sub.status == 200
        sipp = asyncio.create_task(
            asyncio.to_thread(
                sb.run_sipp,
                "agent_register.xml",
                service="agent1001",
                timeout=20,
                extra_args=["-au", "agent1001", "-ap", "pw-agent1001", "-d", "500"],
            )
        )
        async with asyncio.timeout(20):
            async for msg in ws:
                event = json.loads(msg.data)
                if event["type"] == "EndpointStateChange":
                    states.append(event["endpoint"]["state"])
                    if states[-1] == "offline":
                        break
        result = await sipp
        await http.delete(
            f"{sb.ari_url}/ari/applications/{sb.ari_app}/subscription",
            params={"eventSource": "endpoint:PJSIP/agent1001"},
        )
    assert states == ["online", "offline"]
    assert result.returncode == 0, result.errors()

    wrong = sb.run_sipp(
        "agent_register.xml",
        service="agent1002",
        timeout=10,
        extra_args=["-au", "agent1002", "-ap", "not-the-password", "-d", "100"],
    )
    assert wrong.returncode == 1
    assert wrong.failed == 1


async def test_fifty_calls_at_ten_per_second(asterisk_sandbox: E2ESandbox) -> None:
    """The sandbox and the SIPp helper carry the load the acceptance tests place."""
    sb = asterisk_sandbox
    base = f"{sb.ari_url}/ari"
    calls = 50
    started = ended = 0

    async def answer_then_hang_up(http: aiohttp.ClientSession, channel: str) -> None:
        answered = await http.post(f"{base}/channels/{channel}/answer")
        assert answered.status == 204
        await asyncio.sleep(0.5)  # the caller is on the line for a moment
        gone = await http.delete(f"{base}/channels/{channel}")
        assert gone.status == 204

    async with (
        aiohttp.ClientSession(headers=sb.ari_headers) as http,
        http.ws_connect(sb.ari_ws_url) as ws,
        asyncio.TaskGroup() as group,
    ):
        sipp = group.create_task(
            asyncio.to_thread(sb.run_sipp, "caller_basic.xml", calls=calls, rate=10, timeout=60)
        )
        async with asyncio.timeout(60):
            async for msg in ws:
                event = json.loads(msg.data)
                if event["type"] == "StasisStart":
                    started += 1
                    group.create_task(answer_then_hang_up(http, event["channel"]["id"]))
                elif event["type"] == "StasisEnd":
                    ended += 1
                    if ended == calls:
                        break
    result = sipp.result()
    assert (started, ended) == (calls, calls)
    assert result.returncode == 0, result.errors()
    assert (result.successful, result.failed) == (calls, 0)
