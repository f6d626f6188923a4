"""A caller's time in the queue through real Asterisk: abandonment and announcements.

SIPp callers go through the demo menu (number 100) into the billing queue while no
agent is available. Assertions are on the ARI events an independent observer saw,
the routing engine's state and the interaction's timeline in the database.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from contactcore.testing.ari_observer import AriObserver
from contactcore.testing.voice_platform import Keys, PlatformRun, caller_script

pytestmark = pytest.mark.e2e

MENU_KEY_AT_MS = 4000  # welcome and menu prompt are playing; the key cuts the menu short


def on_channel(event: dict[str, Any], channel_id: str) -> bool:
    target = event.get("playback", {}).get("target_uri", "")
    return bool(event.get("channel", {}).get("id") == channel_id or target.endswith(channel_id))


async def caller_channel(observer: AriObserver, number: str) -> str:
    """The id of the caller's channel (the observer sees it created, not its Stasis)."""
    event = await observer.wait_for(
        lambda e: (
            e.get("type") == "ChannelCreated"
            and e.get("channel", {}).get("caller", {}).get("number") == number
        ),
        timeout=20,
    )
    return str(event["channel"]["id"])


async def test_caller_who_hangs_up_while_waiting_is_withdrawn_and_recorded_abandoned(
    voice: PlatformRun,
) -> None:
    platform = await voice.start()
    sb = platform.sandbox
    script = caller_script(platform.tmp / "caller.xml", [Keys(MENU_KEY_AT_MS, "1")])
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        call = asyncio.create_task(
            asyncio.to_thread(
                sb.run_sipp, script, caller="2025550199", timeout=40, extra_args=["-d", "6000"]
            )
        )
        channel = await caller_channel(observer, "2025550199")
        # the task is in the ACD while the caller waits ...
        await platform.wait_waiting("billing", 1)
        result = await call
        assert result.returncode == 0, result.errors()
        hangup = await observer.wait_for(
            lambda e: e.get("type") == "ChannelHangupRequest" and on_channel(e, channel)
        )
    # the interaction is closed once the controller has handled the hang-up (the
    # observer may hear of the hang-up a moment before the controller does) ...
    (row,) = await platform.interactions()
    # ... and the task no longer waits
    assert (await platform.waiting_tasks()).get("billing") == []
    assert row.outcome == "abandoned"
    kinds = [e.type for e in row.events]
    assert "queue.entered" in kinds
    for unwanted in ("agent.offered", "agent.answered", "call.bridged"):
        assert unwanted not in kinds
    entered = next(e for e in row.events if e.type == "queue.entered")
    (abandoned,) = [e for e in row.events if e.type == "queue.abandoned"]
    assert abandoned.queue_id == "billing"
    assert abandoned.task_id == entered.task_id
    # recorded with its wait, at once after the hang-up
    waited = abandoned.payload["waited"]
    assert waited == pytest.approx(abandoned.at - entered.at, abs=0.05)
    assert 2.0 <= waited <= 10.0
    hung_up_at = _ari_time(hangup["timestamp"])
    assert abandoned.at - hung_up_at < 1.0, "withdrawn at once"
    (withdrawn,) = await platform.acd_events("task.withdrawn", task_id=abandoned.task_id)
    assert withdrawn["payload"]["reason"] == "abandoned"


def _ari_time(stamp: str) -> float:
    """ARI's timestamp (``2026-11-24T19:50:01.123+0000``) in epoch seconds."""
    from datetime import datetime

    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


QUEUE_SOUNDS = ("sound:queue-youarenext", "sound:queue-thereare")


async def test_waiting_callers_hear_position_announcements_between_music(
    voice: PlatformRun,
) -> None:
    every = 3.0
    # callbacks off: their offer would follow the position (tests/e2e/test_callbacks.py)
    platform = await voice.start(
        {"billing": {"announce": {"every_seconds": every}, "callback": False}}
    )
    sb = platform.sandbox
    script = caller_script(platform.tmp / "caller.xml", [Keys(MENU_KEY_AT_MS, "1")])

    def call(number: str, hold_ms: int) -> Any:
        return asyncio.to_thread(
            sb.run_sipp, script, caller=number, timeout=40, extra_args=["-d", str(hold_ms)]
        )

    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        first = asyncio.create_task(call("2025550198", 11000))
        first_channel = await caller_channel(observer, "2025550198")
        await platform.wait_waiting("billing", 1)
        second = asyncio.create_task(call("2025550197", 7000))
        second_channel = await caller_channel(observer, "2025550197")
        for result in await asyncio.gather(first, second):
            assert result.returncode == 0, result.errors()

    first_plays = playbacks(observer, first_channel)
    second_plays = playbacks(observer, second_channel)
    for plays in (first_plays, second_plays):
        for earlier, later in itertools.pairwise(plays):
            assert earlier.finished is not None
            assert earlier.finished <= later.started, "never two playbacks at once"
    # first in line: told so on entry and again every N seconds after the last one ended
    heard = [p for p in first_plays if p.media[0] == "sound:queue-youarenext"]
    assert len(heard) >= 2, first_plays
    gap = heard[1].started - (heard[0].finished or 0.0)
    assert every - 0.5 <= gap <= every + 2.0
    # second in line: "there are ... 1 ... calls waiting ahead of you", with number: media
    (told,) = [p for p in second_plays if p.media[0] == "sound:queue-thereare"]
    assert told.media == ["sound:queue-thereare", "number:1", "sound:queue-callswaiting"]
    assert all(p.media[0] != "sound:queue-youarenext" for p in second_plays)

    for row in await platform.interactions(count=2):
        assert row.outcome == "abandoned"


@dataclass
class Playback:
    id: str
    media: list[str]
    started: float
    finished: float | None = None


def playbacks(observer: AriObserver, channel_id: str) -> list[Playback]:
    """The playbacks on a channel in start order, each with every media it went through."""
    found: dict[str, Playback] = {}
    for e in observer.events:
        pb = e.get("playback")
        if pb is None or pb.get("target_uri") != f"channel:{channel_id}":
            continue
        at = _ari_time(e["timestamp"])
        if e["type"] == "PlaybackStarted":
            known = found.get(pb["id"])
            if known is None:
                found[pb["id"]] = Playback(pb["id"], [pb["media_uri"]], at)
            else:  # the next media of a list
                known.media.append(pb["media_uri"])
        elif e["type"] == "PlaybackFinished" and pb["id"] in found:
            found[pb["id"]].finished = at
    return sorted(found.values(), key=lambda p: p.started)
