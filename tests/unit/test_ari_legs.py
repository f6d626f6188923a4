"""AriLeg and dispatch logic, with an in-memory stand-in for our own AriClient."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contactcore.adapters.ari.client import AriClient
from contactcore.adapters.ari.errors import AriError, AriNotFound
from contactcore.adapters.ari.models import parse_event
from contactcore.adapters.ari.telephony import AriTelephony
from contactcore.core.voice import CallerHungUp, Leg


class FakeClient(AriClient):
    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", "u", "p")
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.bodies: dict[str, Any] = {}  # path -> the last JSON body sent there
        self.gone: set[str] = set()

    async def request(self, method: str, path: str, params: Any = None, body: Any = None) -> Any:
        self.calls.append((method, path, dict(params or {})))
        if body is not None:
            self.bodies[path] = body
        if any(path.startswith(f"/channels/{g}") for g in self.gone):
            raise AriNotFound("gone", status=404, method=method, path=path)
        if path == "/channels":
            return [{"id": "alive"}]
        return None


def channel(cid: str, exten: str = "100", number: str = "0123") -> dict[str, Any]:
    return {"id": cid, "caller": {"number": number, "name": ""}, "dialplan": {"exten": exten}}


def ev(kind: str, **fields: Any) -> Any:
    return parse_event({"type": kind, **fields})


async def start_call(t: AriTelephony, cid: str = "c1") -> list[Leg]:
    seen: list[Leg] = []
    release = asyncio.Event()

    async def handler(leg: Leg) -> None:
        seen.append(leg)
        await release.wait()

    t.set_call_handler(handler)
    t._on_event(ev("StasisStart", channel=channel(cid)))
    await asyncio.sleep(0)
    return seen


async def test_inbound_call_gets_its_own_leg_with_caller_and_number() -> None:
    t = AriTelephony(FakeClient(), "contactcore")
    seen = await start_call(t)
    assert len(seen) == 1
    assert seen[0].caller_number == "0123"
    assert seen[0].called_number == "100"
    assert t.active_calls == 1


async def test_digits_typed_ahead_are_kept_and_terminator_ends_collection() -> None:
    t = AriTelephony(FakeClient(), "contactcore")
    (leg,) = await start_call(t)
    for d in "12#":
        t._on_event(ev("ChannelDtmfReceived", digit=d, channel=channel("c1")))
    got = await leg.collect_digits(
        max_digits=6, first_digit_timeout=1, inter_digit_timeout=1, finish_keys="#"
    )
    assert got.digits == "12"


async def test_get_digits_returns_what_it_has_at_inter_digit_timeout() -> None:
    t = AriTelephony(FakeClient(), "contactcore")
    (leg,) = await start_call(t)
    t._on_event(ev("ChannelDtmfReceived", digit="7", channel=channel("c1")))
    got = await leg.collect_digits(max_digits=4, first_digit_timeout=1, inter_digit_timeout=0.05)
    assert got.digits == "7"


async def test_playback_interrupted_by_a_key_is_stopped() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")
    (leg,) = await start_call(t)
    task = asyncio.create_task(leg.play(["sound:a", "sound:b"], interrupt_keys="123"))
    await asyncio.sleep(0.01)
    t._on_event(ev("ChannelDtmfReceived", digit="9", channel=channel("c1")))
    await asyncio.sleep(0.01)
    assert not task.done(), "a key that is not an interrupt key is ignored"
    t._on_event(ev("ChannelDtmfReceived", digit="3", channel=channel("c1")))
    result = await task
    assert (result.completed, result.interrupted_by) == (False, "3")
    await asyncio.sleep(0.01)  # the stop goes out without holding up the next prompt
    methods = [(m, p.split("/")[1]) for m, p, _ in client.calls]
    assert ("POST", "channels") in methods
    assert ("DELETE", "playbacks") in methods
    play = next(c for c in client.calls if "/play/" in c[1])
    assert play[2]["media"] == "sound:a,sound:b"


async def play_to_the_end(t: AriTelephony, client: FakeClient, leg: Leg) -> bool:
    """Play one sound and let Asterisk report it finished; True if play saw it complete."""
    task = asyncio.create_task(leg.play(["sound:hello-world"]))
    await asyncio.sleep(0.01)
    playback_id = next(c for c in client.calls if "/play/" in c[1])[1].rsplit("/", 1)[1]
    t._on_event(ev("PlaybackFinished", playback={"id": playback_id, "target_uri": "channel:c1"}))
    return (await task).completed


async def test_playback_finished_event_completes_play() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")
    (leg,) = await start_call(t)
    assert await play_to_the_end(t, client, leg)


async def test_hangup_wakes_every_waiter_with_leg_hung_up() -> None:
    t = AriTelephony(FakeClient(), "contactcore")
    (leg,) = await start_call(t)
    waiter = asyncio.create_task(
        leg.collect_digits(max_digits=1, first_digit_timeout=5, inter_digit_timeout=5)
    )
    await asyncio.sleep(0.01)
    t._on_event(ev("StasisEnd", channel=channel("c1")))
    with pytest.raises(CallerHungUp):
        await waiter
    assert leg.hung_up


async def test_404_on_own_leg_means_hung_up() -> None:
    client = FakeClient()
    client.gone.add("c1")
    t = AriTelephony(client, "contactcore")
    (leg,) = await start_call(t)
    with pytest.raises(CallerHungUp):
        await leg.answer()
    assert leg.hung_up


async def test_reconcile_after_reconnect_marks_vanished_legs_gone() -> None:
    t = AriTelephony(FakeClient(), "contactcore")
    (lost,) = await start_call(t, "vanished")
    assert not lost.hung_up
    await t._on_connect()
    assert lost.hung_up


async def test_calls_refused_while_draining() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")
    t.accepting = False
    t.set_call_handler(lambda leg: asyncio.sleep(0))
    t._on_event(ev("StasisStart", channel=channel("late")))
    await asyncio.sleep(0.01)
    assert t.calls_refused == 1
    assert ("DELETE", "/channels/late", {"reason": "congestion"}) in client.calls


async def test_crashing_handler_does_not_leave_the_call_up() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")

    async def broken(leg: Leg) -> None:
        raise RuntimeError("bug")

    t.set_call_handler(broken)
    t._on_event(ev("StasisStart", channel=channel("c9")))
    await asyncio.sleep(0.05)
    assert ("DELETE", "/channels/c9", {"reason": "normal"}) in client.calls


async def test_originate_to_an_unregistered_phone_is_a_no_answer() -> None:
    class Refusing(FakeClient):
        async def request(
            self, method: str, path: str, params: Any = None, body: Any = None
        ) -> Any:
            if method == "POST" and path.startswith("/channels/ag_"):
                raise AriError("Allocation failed", status=500, method=method, path=path)
            return await super().request(method, path, params, body)

    t = AriTelephony(Refusing(), "contactcore")
    with pytest.raises(CallerHungUp, match="cannot be called"):
        await t.originate("PJSIP/agent1009", caller_id='"x" <1>', timeout=5)
    assert not t._legs


def transfer_event(source: str, destination: str | None, state: str | None = None) -> Any:
    wanted = {"destination": destination} if destination else {"protocol_id": "abc@host"}
    fields: dict[str, Any] = {
        "refer_to": {"requested_destination": wanted},
        "referred_by": {"source_channel": channel(source), "connected_channel": channel("x")},
    }
    if state:
        fields["state"] = state
    return ev("ChannelTransfer", **fields)


async def test_a_refer_reaches_the_leg_it_came_in_on_and_progress_echoes_are_ignored() -> None:
    t = AriTelephony(FakeClient(), "contactcore")
    (leg,) = await start_call(t, "agent-leg")
    t._on_event(transfer_event("agent-leg", "billing"))
    t._on_event(transfer_event("agent-leg", "billing", state="channel_answered"))
    t._on_event(transfer_event("agent-leg", None))  # attended: no destination
    assert await asyncio.wait_for(leg.wait_transfer(), 1) == "billing"
    assert await asyncio.wait_for(leg.wait_transfer(), 1) == ""
    with pytest.raises(TimeoutError):  # the echo of our own progress report is no request
        await asyncio.wait_for(leg.wait_transfer(), 0.05)


async def test_transfer_progress_reports_the_outcome_and_survives_a_gone_phone() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")
    (leg,) = await start_call(t, "agent-leg")
    await leg.transfer_progress(True)
    await leg.transfer_progress(False)
    posted = [(p, q["states"]) for m, p, q in client.calls if p.endswith("/transfer_progress")]
    assert posted == [
        ("/channels/agent-leg/transfer_progress", "channel_answered"),
        ("/channels/agent-leg/transfer_progress", "channel_declined"),
    ]
    client.gone.add("agent-leg")
    await leg.transfer_progress(True)  # logged, not raised


class ListPlayingClient(FakeClient):
    """Asterisk 22 with a media list: a DELETE that lands on a ``number:`` item ends
    only that item, so the first ``stubborn`` stops of a playback do not end it."""

    def __init__(self, stubborn: int) -> None:
        super().__init__()
        self.telephony: AriTelephony | None = None
        self.stubborn = stubborn

    async def request(self, method: str, path: str, params: Any = None, body: Any = None) -> Any:
        result = await super().request(method, path, params, body)
        if method == "DELETE" and path.startswith("/playbacks/"):
            if self.stubborn > 0:
                self.stubborn -= 1
            else:
                assert self.telephony is not None
                playback = {"id": path.rsplit("/", 1)[1], "target_uri": "channel:c1"}
                self.telephony._on_event(ev("PlaybackFinished", playback=playback))
        return result


async def test_a_stop_is_repeated_until_the_playback_really_finishes() -> None:
    client = ListPlayingClient(stubborn=2)
    t = AriTelephony(client, "contactcore")
    client.telephony = t
    (leg,) = await start_call(t)
    task = asyncio.create_task(leg.play(["sound:a", "number:6", "sound:b"], interrupt_keys="1"))
    await asyncio.sleep(0.01)
    t._on_event(ev("ChannelDtmfReceived", digit="1", channel=channel("c1")))
    assert (await task).interrupted_by == "1"
    await asyncio.sleep(1.0)
    deletes = [p for m, p, _ in client.calls if m == "DELETE"]
    assert len(deletes) == 3, deletes
    assert len(set(deletes)) == 1


async def test_bridge_first_stops_an_announcement_the_owner_gave_up_on() -> None:
    client = ListPlayingClient(stubborn=1)
    t = AriTelephony(client, "contactcore")
    client.telephony = t
    (leg,) = await start_call(t)
    announcement = asyncio.create_task(leg.play(["sound:a", "number:6", "sound:b"]))
    await asyncio.sleep(0.01)
    # The owner's own stop did not end it (it landed on the number): still tracked.
    client.stubborn = 10**6
    announcement.cancel()
    with pytest.raises(asyncio.CancelledError):
        await announcement
    client.stubborn = 1
    client.calls.clear()
    await t.bridge([leg])
    order = [(m, p.split("/")[1], p.rsplit("/", 1)[1]) for m, p, _ in client.calls]
    add = order.index(("POST", "bridges", "addChannel"))
    stops = [i for i, c in enumerate(order) if c[0] == "DELETE" and c[1] == "playbacks"]
    assert len(stops) == 2, order
    assert max(stops) < add, order


async def test_bridge_with_nothing_playing_goes_straight_to_add_channel() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")
    (leg,) = await start_call(t)
    assert await play_to_the_end(t, client, leg)
    client.calls.clear()
    await t.bridge([leg])
    assert [m for m, _, _ in client.calls] == ["POST", "POST"]


async def test_every_connect_asks_asterisk_to_leave_out_unused_events() -> None:
    client = FakeClient()
    t = AriTelephony(client, "contactcore")
    await t._on_connect()
    sent = client.bodies["/applications/contactcore/eventFilter"]
    assert {f["type"] for f in sent["disallowed"]} >= {"ChannelVarset", "PlaybackContinuing"}
    assert "allowed" not in sent  # an allow list would hide events new code waits for
