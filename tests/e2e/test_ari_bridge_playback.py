"""The ARI adapter against real Asterisk: a bridge is never held up by a playback.

Asterisk 22 facts this guards (see docs/design-notes.md): ``addChannel`` waits until the
channel's playbacks are over, and ``DELETE /playbacks/{id}`` that lands on the
``number:`` item of a media list ends only that item (the rest of the list plays on).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from contactcore.adapters.ari.client import AriClient
from contactcore.adapters.ari.telephony import IGNORED_EVENTS, AriTelephony
from contactcore.core.voice import Leg
from contactcore.sandbox.testkit import E2ESandbox
from contactcore.testing.ari_observer import AriObserver

pytestmark = pytest.mark.e2e

# About 2.3 s, 0.9 s, 2.5 s and 2.8 s of Asterisk's own sounds.
ANNOUNCEMENT = [
    "sound:queue-thereare",
    "number:6",
    "sound:queue-callswaiting",
    "sound:queue-holdtime",
]


@pytest.fixture
async def caller(asterisk_sandbox: E2ESandbox) -> AsyncIterator[tuple[AriTelephony, Leg]]:
    """One SIPp caller in the Stasis app, owned by an AriTelephony of our own."""
    sb = asterisk_sandbox
    telephony = AriTelephony(AriClient(sb.ari_url, sb.ari_username, sb.ari_password), sb.ari_app)
    legs: asyncio.Queue[Leg] = asyncio.Queue()
    release = asyncio.Event()

    async def handler(leg: Leg) -> None:
        await legs.put(leg)
        await release.wait()

    telephony.set_call_handler(handler)
    await telephony.start(connect_timeout=10.0)
    sipp = asyncio.ensure_future(
        asyncio.to_thread(
            sb.run_sipp, "caller_menu.xml", dtmf="1", extra_args=["-d", "15000"], timeout=60
        )
    )
    try:
        leg = await asyncio.wait_for(legs.get(), 20.0)
        await leg.answer()
        yield telephony, leg
    finally:
        release.set()
        await telephony.drain(grace=5.0)
        await sipp


async def test_bridging_stops_an_announcement_whose_stop_landed_on_a_number(
    asterisk_sandbox: E2ESandbox, caller: tuple[AriTelephony, Leg]
) -> None:
    telephony, leg = caller
    sb = asterisk_sandbox
    async with AriObserver(sb.ari_url, sb.ari_username, sb.ari_password) as observer:
        announcement = asyncio.create_task(leg.play(ANNOUNCEMENT))
        await observer.wait_for(
            lambda e: (
                e.get("type") == "PlaybackStarted" and e["playback"].get("media_uri") == "number:6"
            ),
            timeout=15.0,
        )
        # The owner gives up on it (an agent answered): its own stop lands on the number.
        announcement.cancel()
        with pytest.raises(asyncio.CancelledError):
            await announcement
        started = time.monotonic()
        bridge_id = await telephony.bridge([leg])
        took = time.monotonic() - started
        await telephony.destroy_bridge(bridge_id)
        # The rest of the list would have held addChannel for about 5 s.
        assert took < 2.0, f"bridging took {took:.1f}s"
        assert len(observer.of_type("PlaybackFinished")) == 1
        continuing = [e["playback"]["media_uri"] for e in observer.of_type("PlaybackStarted")]
        assert "sound:queue-holdtime" not in continuing, "the announcement played to its end"


async def test_asterisk_sends_the_app_none_of_the_events_it_never_reads(
    caller: tuple[AriTelephony, Leg],
) -> None:
    telephony, leg = caller
    app = await telephony.client.request("GET", f"/applications/{telephony.app}")
    ignored = {f["type"] for f in app["events_disallowed"]}
    assert ignored == set(IGNORED_EVENTS)
    # ... while what the legs need still arrives: a playback ends, play returns.
    played = await asyncio.wait_for(leg.play(["sound:beep"]), 10.0)
    assert played.completed
