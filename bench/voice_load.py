"""Voice load through real Asterisk: N SIPp callers, IVR, one queue, M agent phones.

Every caller goes through the demo flow (number 100): presses an invalid menu key
(the "not one of the choices" prompt, then the menu again), then 1 for billing, and
waits for an agent. M agents (billing 8, english 8) are registered from one SIPp
phone that answers, talks ``--talk-ms`` and hangs up; wrap-up is one second. Prints
JSON:

- calls: SIPp's successful/failed calls and the interactions' outcomes (0 failed and
  every call answered is the goal);
- dtmf_to_prompt_ms: from Asterisk's ``ChannelDtmfReceived`` to the next
  ``PlaybackStarted`` on that channel (both Asterisk timestamps, seen by an
  independent ARI observer), for key presses followed by a prompt within 5 s (a
  key that puts the caller straight through to an agent has no next prompt):
  p50/p95/p99/max, overall and per key (``9``: the invalid-choice prompt; ``1``: the
  queue's first announcement, after enqueueing);
- controller_cpu_s_per_call: the controller's user+system CPU seconds (from
  /proc/PID/stat) over the run, divided by the number of calls;
- machine: CPUs and the 1-minute load average before and after the run (the
  figures are only comparable between runs under similar load).

Run (brings up sandbox instance ``CONTACTCORE_E2E_INSTANCE`` or ``test`` on the
CONTACTCORE_E2E_* ports, as the e2e tests do):

    python bench/voice_load.py --callers 100 --agents 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from contactcore.sandbox.sipp import free_udp_port
from contactcore.sandbox.testkit import E2ESandbox
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.voice_platform import Keys, PlatformRun, caller_script

REPO = Path(__file__).resolve().parents[1]
FIRST_AGENT = 1011  # agent1011.. : endpoints the sandbox has and the demo data does not use
MAX_AGENTS = 20
NEXT_PROMPT_WITHIN_S = 5.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def ari_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (clock ticks -> seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def dtmf_to_prompt(events: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Per key press: (key, seconds until the next playback started on the same channel)."""
    presses: dict[str, list[tuple[str, float]]] = {}
    starts: dict[str, list[float]] = {}
    for e in events:
        if e.get("type") == "ChannelDtmfReceived":
            press = (e.get("digit", ""), ari_time(e["timestamp"]))
            presses.setdefault(e["channel"]["id"], []).append(press)
        elif e.get("type") == "PlaybackStarted":
            target = e["playback"].get("target_uri", "")
            if target.startswith("channel:"):
                channel = target.removeprefix("channel:")
                starts.setdefault(channel, []).append(ari_time(e["timestamp"]))
    delays = []
    for channel, keys in presses.items():
        for key, key_at in keys:
            later = [s - key_at for s in starts.get(channel, []) if s >= key_at]
            if later and min(later) <= NEXT_PROMPT_WITHIN_S:
                delays.append((key, min(later)))
    return delays


def summary_ms(delays: list[float]) -> dict[str, float]:
    return {
        "samples": len(delays),
        "p50": round(pct(delays, 50) * 1000, 1),
        "p95": round(pct(delays, 95) * 1000, 1),
        "p99": round(pct(delays, 99) * 1000, 1),
        "max": round(max(delays, default=0.0) * 1000, 1),
    }


def load_1m() -> float:
    """The machine's 1-minute load average: how quiet the run was (2 cores here)."""
    return os.getloadavg()[0]


async def run_load(
    sandbox: E2ESandbox,
    tmp: Path,
    *,
    callers: int,
    agents: int,
    rate: float,
    talk_ms: int,
    redis_prefix: str,
    web_port: int,
    keep_events: Path | None = None,
) -> dict[str, Any]:
    """One load run; ``keep_events`` names a file for the ARI events the observer saw."""
    if not 1 <= agents <= MAX_AGENTS:
        raise ValueError(f"--agents must be 1..{MAX_AGENTS} (sandbox endpoints)")
    names = [f"agent{FIRST_AGENT + i}" for i in range(agents)]
    run = PlatformRun(sandbox, redis_prefix, tmp, web_port)
    try:
        platform = await run.start(
            {"billing": {"wrap_up_seconds": 1, "overflow": None, "max_wait_seconds": 0}},
            extra_agents={n: {"billing": 8, "english": 8} for n in names},
        )
        port = free_udp_port()
        for name in names:
            await asyncio.to_thread(platform.phone_logs_on, name, port)
        phone = platform.phone(
            port, "agent_auto_answer.xml", calls=callers, talk_ms=talk_ms, timeout_s=600
        )
        for name in names:
            await platform.agent_available(name)
        script = caller_script(
            tmp / "load-caller.xml",
            [Keys(4000, "9"), Keys(4500, "1")],  # an invalid key, then billing
            hangs_up=False,
            name="load",
        )
        pid = platform.controller.proc.pid
        load_before = load_1m()
        cpu_before = cpu_seconds(pid)
        started = time.monotonic()
        sb = platform.sandbox
        async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
            result = await asyncio.to_thread(
                sb.run_sipp,
                script,
                calls=callers,
                rate=rate,
                concurrent=callers,
                caller="2025550199",
                timeout=60 + callers * 3,
            )
            elapsed = time.monotonic() - started
            rows = await platform.interactions(count=callers, timeout=30)
            cpu = cpu_seconds(pid) - cpu_before
            events = list(observer.events)
        try:
            await asyncio.to_thread(phone.communicate, timeout=15)
        except subprocess.TimeoutExpired:  # it still waits for calls that never came
            phone.terminate()
            await asyncio.to_thread(phone.communicate, timeout=5)
        load_after = load_1m()
        if keep_events is not None:
            await asyncio.to_thread(keep_events.write_text, json.dumps(events))
        delays = dtmf_to_prompt(events)
        outcomes = Counter(r.outcome for r in rows)
        failed_playbacks = Counter(
            e["playback"].get("media_uri", "")
            for e in events
            if e.get("type") == "PlaybackFinished" and e["playback"].get("state") == "failed"
        )
        by_key: dict[str, list[float]] = {}
        for key, delay in delays:
            by_key.setdefault(key, []).append(delay)
        return {
            "callers": callers,
            "agents": agents,
            "rate_per_s": rate,
            "talk_ms": talk_ms,
            "calls": {
                "successful": result.successful,
                "failed": result.failed,
                "sipp_exit": result.returncode,
                "agent_phone_exit": phone.returncode,
                "outcomes": dict(outcomes),
                "not_answered": callers - outcomes.get("answered", 0),
            },
            "dtmf_events": len(observer.of_type("ChannelDtmfReceived")),
            # a missing prompt "plays" at once: such a run measures nothing real
            "playbacks_failed": dict(failed_playbacks),
            "dtmf_to_prompt_ms": {
                **summary_ms([d for _, d in delays]),
                "by_key": {k: summary_ms(v) for k, v in sorted(by_key.items())},
            },
            "controller_cpu_s": round(cpu, 2),
            "controller_cpu_s_per_call": round(cpu / max(callers, 1), 4),
            "wall_s": round(elapsed, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "load_1m_before": round(load_before, 2),
                "load_1m_after": round(load_after, 2),
            },
            "sipp_errors": result.errors()[-500:] if result.returncode else "",
        }
    finally:
        await run.stop()


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from contactcore.sandbox.service import Sandbox, SandboxConfig
    from contactcore.sandbox.testkit import e2e_settings

    settings = e2e_settings()
    # The flow's own prompts, as `make e2e` makes them: without them every prompt would
    # fail at once and the figures would measure nothing real.
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "contactcore", "flows", "prompts"],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    sandbox = Sandbox(SandboxConfig.from_settings(settings))
    started = await asyncio.to_thread(sandbox.up)
    prefix = f"bench-voice-{uuid.uuid4().hex[:8]}:"
    try:
        with tempfile.TemporaryDirectory(prefix="voice-load-") as tmp_dir:
            tmp = args.keep or Path(tmp_dir)
            tmp.mkdir(parents=True, exist_ok=True)
            e2e = E2ESandbox(sandbox, settings, tmp / "sipp")
            return await run_load(
                e2e,
                tmp,
                callers=args.callers,
                agents=args.agents,
                rate=args.rate,
                talk_ms=args.talk_ms,
                redis_prefix=prefix,
                web_port=_free_tcp_port(),
                keep_events=tmp / "ari-events.json" if args.keep else None,
            )
    finally:
        client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        if started.action == "started":  # leave an instance that was already running
            await asyncio.to_thread(sandbox.down)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The sandbox instance and its ports come from CONTACTCORE_E2E_INSTANCE, "
        "CONTACTCORE_E2E_SIP_PORT, CONTACTCORE_E2E_ARI_PORT, CONTACTCORE_E2E_RTP_START and "
        "CONTACTCORE_E2E_RTP_END (default: instance 'test', SIP 5062, ARI 8090, RTP "
        "21000-21999); give a run beside other test sessions its own.",
    )
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="new calls per second")
    parser.add_argument("--talk-ms", type=int, default=3000)
    parser.add_argument("--keep", type=Path, help="keep logs and traces in this directory")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args)), indent=2))


if __name__ == "__main__":
    main()
