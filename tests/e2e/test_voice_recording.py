"""Call recording per queue through real Asterisk.

With ``recording`` on for a queue, the bridge of caller and agent is recorded over ARI:
the observer sees RecordingStarted/RecordingFinished, the WAV file is in the sandbox's
recording directory and carries the tone the caller sent while talking, and the
interaction names the file. With recording off nothing is recorded.
"""

from __future__ import annotations

import array
import asyncio
import math
import wave
from pathlib import Path

import pytest

from contactcore.sandbox.sipp import free_udp_port
from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.voice_platform import Keys, PlatformRun, Tone, VoicePlatform, caller_script

pytestmark = pytest.mark.e2e

MENU_KEY_AT_MS = 4000  # 1: billing


async def billing_call(platform: VoicePlatform) -> AriObserver:
    """A caller chooses billing, is answered, sends a 3 s tone and hangs up."""
    sb = platform.sandbox
    port = free_udp_port()
    await asyncio.to_thread(platform.phone_logs_on, "agent1001", port)
    phone = platform.phone(port, timeout_s=60)
    await platform.agent_available("agent1001")  # billing 9
    script = caller_script(
        platform.tmp / "caller.xml",
        [Keys(MENU_KEY_AT_MS, "1"), Tone(after_ms=5000, seconds=3.0)],
        name="billing with a tone",
    )
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        caller = await asyncio.to_thread(
            sb.run_sipp, script, caller="2025550199", timeout=50, extra_args=["-d", "6000"]
        )
        assert caller.returncode == 0, caller.errors()
        out, _ = await asyncio.to_thread(phone.communicate, timeout=30)
        assert phone.returncode == 0, out[-2000:]
        await asyncio.sleep(1.0)  # the recording's end arrives after the hang-ups
    return observer


def loudness(path: Path) -> tuple[float, float]:
    """(seconds, RMS of the loudest half second) of a 16-bit mono WAV."""
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2), "Asterisk's wav: 16-bit mono"
        rate = w.getframerate()
        samples = array.array("h", w.readframes(w.getnframes()))
    window = rate // 2
    loudest = max(
        (
            math.sqrt(sum(x * x for x in samples[i : i + window]) / window)
            for i in range(0, max(1, len(samples) - window), window)
        ),
        default=0.0,
    )
    return len(samples) / rate, loudest


async def test_a_recorded_queue_records_the_conversation_and_names_the_file(
    voice: PlatformRun,
) -> None:
    platform = await voice.start({"billing": {"recording": True}})
    observer = await billing_call(platform)

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    assert row.recording is not None
    assert row.recording.endswith(".wav")
    assert row.recording.startswith(row.id), "the file name says which interaction it is"
    (started,) = [e for e in row.events if e.type == "call.recording_started"]
    (finished,) = [e for e in row.events if e.type == "call.recording_finished"]
    assert started.payload["recording"] == finished.payload["recording"] == row.recording
    assert finished.payload["complete"] is True
    assert finished.payload["duration"] >= 3, "Asterisk's own count of the seconds recorded"
    bridged = next(e for e in row.events if e.type == "call.bridged")
    assert bridged.at <= started.at

    name = row.recording.removesuffix(".wav")
    seen = {
        e["type"]
        for e in observer.events
        if e.get("type", "").startswith("Recording") and e["recording"]["name"] == name
    }
    assert {"RecordingStarted", "RecordingFinished"} <= seen
    assert "RecordingFailed" not in seen

    path = platform.sandbox.sandbox.paths.recordings / row.recording
    assert path.is_file(), f"{path} is missing"
    try:
        seconds, loudest = loudness(path)
    finally:
        path.unlink()  # the sandbox's spool is shared by every test run
    assert seconds >= 3.0, f"{seconds:.1f}s recorded"
    assert loudest > 1000, f"the caller's tone is in the recording (RMS {loudest:.0f})"


async def test_an_unrecorded_queue_records_nothing(voice: PlatformRun) -> None:
    platform = await voice.start({"billing": {"recording": False}})
    observer = await billing_call(platform)

    (row,) = await platform.interactions()
    assert row.outcome == "answered"
    assert row.recording is None
    assert not [e for e in row.events if e.type.startswith("call.recording")]
    assert not [e for e in observer.events if e.get("type", "").startswith("Recording")]
    assert not list(platform.sandbox.sandbox.paths.recordings.glob(f"{row.id}*"))
