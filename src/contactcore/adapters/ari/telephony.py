"""The voice ports (``core.voice``) implemented over ARI.

One :class:`AriLeg` per Asterisk channel receives that channel's events (dispatch by
channel id); the owner of the leg awaits helpers such as ``play`` and
``collect_digits``, and a hang-up surfaces as ``CallerHungUp`` from whatever it awaits.
Each inbound call runs in a task of its own, so one call's crash never touches
another. After an event-stream reconnect, owned legs are reconciled with the
channels Asterisk really has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from contactcore.adapters.ari.client import AriClient, EventStream
from contactcore.adapters.ari.errors import AriConflict, AriError, AriNotFound
from contactcore.adapters.ari.models import HANGUP_EVENTS, AriEvent, Channel
from contactcore.core.ids import new_id
from contactcore.core.telephony import (
    CallerHungUp,
    DigitsResult,
    PlayResult,
    gather_digits,
)
from contactcore.core.voice import CallHandler, RecordingFailed

log = logging.getLogger(__name__)

# A playback whose end event was lost (e.g. during a reconnect) must not hold a call
# forever; prompts are far shorter than this.
MAX_PLAYBACK_SECONDS = 600.0

TRANSFER_HANDLING = "PJSIP_TRANSFER_HANDLING()"
RECORDING_FORMAT = "wav"
RECORDING_EVENTS = frozenset({"RecordingStarted", "RecordingFinished", "RecordingFailed"})

# Asterisk 22 answers DELETE /playbacks/{id} with 204 either way, but during a
# ``number:`` or ``digits:`` item of a media list it ends only that item and the rest
# of the list plays on (during a ``sound:`` item the whole list ends). A stop is
# therefore asked again until PlaybackFinished says the playback is over.
STOP_RETRY_SECONDS = 0.2
STOP_DEADLINE_SECONDS = 3.0

# Events Asterisk need not send the app at all: informational ones the controller never
# reads. ChannelVarset alone was about half of all events (each one a JSON frame
# written by Asterisk and decoded here). Never list an event some code waits for.
IGNORED_EVENTS = (
    "ChannelVarset",
    "ChannelDialplan",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "PlaybackContinuing",
)


class AriLeg:
    """One Asterisk channel, owned by one coroutine."""

    def __init__(self, telephony: AriTelephony, channel: Channel) -> None:
        self._t = telephony
        self._channel = channel
        self._keys: asyncio.Queue[str | None] = asyncio.Queue()
        # playbacks Asterisk may still be playing (or have queued) on this channel, until
        # their PlaybackFinished: a bridge waits for them (see ``silence``)
        self._playbacks: dict[str, asyncio.Future[None]] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._gone = asyncio.Event()
        self._entered = asyncio.Event()  # StasisStart seen (for originated legs)
        self._transfers: asyncio.Queue[str] = asyncio.Queue()  # blind REFER destinations
        self.hangup_cause: int | None = None

    # -- identity ---------------------------------------------------------
    @property
    def id(self) -> str:
        return self._channel.id

    @property
    def call_id(self) -> str:
        return self._channel.id

    @property
    def caller_number(self) -> str:
        return self._channel.caller_number

    @property
    def caller_name(self) -> str:
        return self._channel.caller_name

    @property
    def called_number(self) -> str:
        return self._channel.exten

    @property
    def hung_up(self) -> bool:
        return self._gone.is_set()

    # -- events (called synchronously by the dispatcher) -------------------
    def deliver(self, event: AriEvent) -> None:
        kind = event.type
        if kind == "ChannelDtmfReceived" and event.digit:
            self._keys.put_nowait(event.digit)
        elif kind == "PlaybackFinished" and event.playback is not None:
            self._finish_playback(event.playback.id)
        elif kind == "StasisStart":
            if event.channel is not None:
                self._channel = event.channel
            self._entered.set()
        elif kind == "ChannelTransfer":
            if event.raw.get("state"):  # our own transfer_progress, reported back
                return
            destination = event.transfer_destination
            log.info("leg %s: phone asks to transfer to %r", self.id, destination)
            # "" for an attended transfer (no destination): the owner declines it
            self._transfers.put_nowait(destination or "")
        elif kind in HANGUP_EVENTS:
            if event.cause is not None:
                self.hangup_cause = event.cause
            self.mark_gone()

    def mark_gone(self) -> None:
        if self._gone.is_set():
            return
        self._gone.set()
        self._keys.put_nowait(None)  # wakes a digit collector
        for fut in self._playbacks.values():
            if not fut.done():
                fut.set_result(None)

    def _finish_playback(self, playback_id: str) -> None:
        fut = self._playbacks.pop(playback_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def resync(self) -> None:
        """After a reconnect: playbacks that ended while we were deaf count as finished."""
        for playback_id in list(self._playbacks):
            try:
                await self._t.client.request("GET", f"/playbacks/{playback_id}")
            except AriNotFound:
                self._finish_playback(playback_id)

    # -- helpers the owner awaits -------------------------------------------
    def _check(self) -> None:
        if self._gone.is_set():
            raise CallerHungUp(f"leg {self.id} hung up", leg_id=self.id, cause=self.hangup_cause)

    async def _call(
        self, method: str, path: str, params: dict[str, str | int | float] | None = None
    ) -> Any:
        self._check()
        try:
            return await self._t.client.request(method, path, params)
        except (AriNotFound, AriConflict) as exc:
            # 404/409 on our own leg: it left Stasis or no longer exists.
            self.mark_gone()
            raise CallerHungUp(f"leg {self.id} is gone", leg_id=self.id) from exc

    async def answer(self) -> None:
        await self._call("POST", f"/channels/{self.id}/answer")

    async def hangup(self, reason: str = "normal") -> None:
        if self._gone.is_set():
            return
        with contextlib.suppress(AriNotFound, AriConflict):
            await self._t.client.request("DELETE", f"/channels/{self.id}", {"reason": reason})
        self.mark_gone()

    async def play(self, media: Sequence[str], *, interrupt_keys: str = "") -> PlayResult:
        self._check()
        if not media:
            return PlayResult()
        playback_id = new_id("pb_")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._playbacks[playback_id] = done
        # The request runs on even if the owner moves on meanwhile: a playback that
        # Asterisk starts after we gave up on it would hold up a bridge (addChannel waits
        # for it) and talk over the agent, so it must be known and stopped.
        request = asyncio.ensure_future(
            self._call(
                "POST", f"/channels/{self.id}/play/{playback_id}", {"media": ",".join(media)}
            )
        )
        try:
            await asyncio.shield(request)
            async with asyncio.timeout(MAX_PLAYBACK_SECONDS):
                while not done.done():
                    key_wait: asyncio.Future[Any] = asyncio.ensure_future(self._keys.get())
                    waiters: set[asyncio.Future[Any]] = {done, key_wait}
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        key_wait.cancel()
                    if not key_wait.cancelled() and key_wait.done():
                        key = key_wait.result()
                        if key is None:
                            self._check()
                        elif key in interrupt_keys:
                            # Not awaited: the next prompt must not wait for this round
                            # trip, and Asterisk plays it only once this one has stopped.
                            self._stop_in_background(playback_id)
                            return PlayResult(interrupted_by=key)
                        # other keys during a prompt are discarded
            self._check()
            return PlayResult()
        except asyncio.CancelledError:
            # The owner moved on (e.g. an agent answered): silence the prompt at once, or
            # Asterisk would finish it before bridging.
            if not self._gone.is_set():
                with contextlib.suppress(AriError, CallerHungUp, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await asyncio.shield(self._cancel_playback(request, playback_id))
            raise
        finally:
            # Still tracked while Asterisk may be playing it: ``silence`` must find it.
            if done.done() or (request.done() and (request.cancelled() or request.exception())):
                self._playbacks.pop(playback_id, None)

    async def _cancel_playback(self, request: asyncio.Future[Any], playback_id: str) -> None:
        """Stop a playback whose start request may still be on its way to Asterisk."""
        with contextlib.suppress(AriError, CallerHungUp):
            await request
        if request.exception() is None:
            await self._stop_playback(playback_id)

    def _stop_in_background(self, playback_id: str) -> None:
        task = asyncio.create_task(self._stop_quietly(playback_id), name=f"stop-{playback_id}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop_quietly(self, playback_id: str) -> None:
        try:
            await self._stop_playback(playback_id)
        except AriError as exc:
            log.warning("call %s: could not stop playback %s: %s", self.id, playback_id, exc)

    async def _stop_playback(self, playback_id: str) -> None:
        """Stop a playback and wait (bounded) until Asterisk reports it finished."""
        done = self._playbacks.get(playback_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_DEADLINE_SECONDS
        while True:
            try:
                await self._t.client.request("DELETE", f"/playbacks/{playback_id}")
            except AriNotFound:
                self._finish_playback(playback_id)
                return
            if done is None or done.done() or self._gone.is_set():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning(
                    "call %s: playback %s still running %.0fs after it was stopped",
                    self.id,
                    playback_id,
                    STOP_DEADLINE_SECONDS,
                )
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), min(STOP_RETRY_SECONDS, remaining))
            if done.done():
                return

    async def silence(self) -> None:
        """Stop every playback of ours that Asterisk may still play on this leg.

        ``POST /bridges/{id}/addChannel`` waits until the channel's playbacks (queued
        ones too) are over, so a caller whose announcement is still running would be
        kept from the agent who just answered, and the request would time out.
        """
        pending = [pid for pid, fut in self._playbacks.items() if not fut.done()]
        if not pending or self._gone.is_set():
            return
        log.debug("call %s: stopping %d playback(s) before bridging", self.id, len(pending))
        results = await asyncio.gather(
            *(self._stop_playback(pid) for pid in pending), return_exceptions=True
        )
        for result in results:
            if isinstance(result, AriError):
                log.warning("call %s: could not stop a playback: %s", self.id, result)
            elif isinstance(result, BaseException):
                raise result

    async def collect_digits(
        self,
        *,
        max_digits: int,
        first_digit_timeout: float,
        inter_digit_timeout: float,
        finish_keys: str = "",
        initial: str = "",
    ) -> DigitsResult:
        self._check()
        result = await gather_digits(
            self._keys,
            max_digits=max_digits,
            first_digit_timeout=first_digit_timeout,
            inter_digit_timeout=inter_digit_timeout,
            finish_keys=finish_keys,
            initial=initial,
        )
        return result

    async def transfer_external(self, number: str) -> None:
        """Hand the call back to the dialplan, which dials the number (context ``outbound``)."""
        await self._call(
            "POST",
            f"/channels/{self.id}/continue",
            {"context": "outbound", "extension": number, "priority": 1},
        )

    async def start_moh(self, moh_class: str = "default") -> None:
        await self._call("POST", f"/channels/{self.id}/moh", {"mohClass": moh_class})

    async def stop_moh(self) -> None:
        with contextlib.suppress(CallerHungUp):
            await self._call("DELETE", f"/channels/{self.id}/moh")

    async def wait_hangup(self) -> None:
        await self._gone.wait()

    async def wait_transfer(self) -> str:
        return await self._transfers.get()

    async def transfer_progress(self, accepted: bool) -> None:
        state = "channel_answered" if accepted else "channel_declined"
        try:
            await self._t.client.request(
                "POST", f"/channels/{self.id}/transfer_progress", {"states": state}
            )
        except AriError as exc:  # the phone may have hung up already
            log.info("leg %s: transfer progress %s not sent: %s", self.id, state, exc)


class AriTelephony:
    """Owns the ARI event stream and every leg in the Stasis app."""

    def __init__(
        self,
        client: AriClient,
        app: str,
        *,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self.client = client
        self.app = app
        self.stream = EventStream(
            client,
            app,
            self._on_event,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self._legs: dict[str, AriLeg] = {}
        self._handler: CallHandler | None = None
        self._calls: set[asyncio.Task[None]] = set()
        # live recordings by name: resolved with the recording object when it ends
        self._recordings: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.accepting = True
        self.calls_started = 0
        self.calls_refused = 0

    # -- lifecycle ------------------------------------------------------------
    def set_call_handler(self, handler: CallHandler | None) -> None:
        self._handler = handler

    @property
    def connected(self) -> bool:
        return self.stream.connected

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def start(self, connect_timeout: float) -> None:
        """Check ARI answers, then open the event stream and wait until it is up."""
        await self.client.info()
        self.stream.start()
        await self.stream.wait_connected(connect_timeout)

    async def drain(self, grace: float) -> None:
        """Stop taking calls, let calls in progress finish within ``grace``, then end them."""
        self.accepting = False
        if self._calls:
            log.info("waiting up to %.0fs for %d call(s) to finish", grace, len(self._calls))
            _, pending = await asyncio.wait(set(self._calls), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        await self.stream.stop()
        await self.client.close()

    # -- dispatch ---------------------------------------------------------------
    def _on_event(self, event: AriEvent) -> None:
        if event.type in RECORDING_EVENTS:
            self._on_recording(event)
            return
        channel_id = event.channel_id
        if channel_id is None:
            return
        leg = self._legs.get(channel_id)
        if leg is None:
            if event.type == "StasisStart" and event.channel is not None:
                self._new_inbound(event.channel)
            return
        leg.deliver(event)
        if event.type in ("StasisEnd", "ChannelDestroyed"):
            self._legs.pop(channel_id, None)

    def _new_inbound(self, channel: Channel) -> None:
        leg = AriLeg(self, channel)
        self._legs[channel.id] = leg
        if not self.accepting or self._handler is None:
            self.calls_refused += 1
            log.info("call %s refused: not taking new calls", channel.id)
            task = asyncio.create_task(leg.hangup("congestion"))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            return
        self.calls_started += 1
        task = asyncio.create_task(self._run_call(self._handler, leg), name=f"call-{channel.id}")
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _run_call(self, handler: CallHandler, leg: AriLeg) -> None:
        try:
            await handler(leg)
        except CallerHungUp:
            log.debug("call %s: leg hung up", leg.id)
        except Exception:
            log.exception("call %s: handler failed", leg.id)
        finally:
            if not leg.hung_up:
                try:
                    async with asyncio.timeout(5.0):
                        await leg.hangup()
                except (AriError, TimeoutError):
                    log.warning("call %s: could not hang up after the handler ended", leg.id)

    async def _on_connect(self) -> None:
        """Filter out unused events; reconcile owned legs with the channels Asterisk has."""
        await self._filter_events()
        if not self._legs:
            return
        try:
            channels = await self.client.request("GET", "/channels")
        except AriError as exc:
            log.warning("reconcile after reconnect failed: %s", exc)
            return
        alive = {c.get("id") for c in channels or []}
        lost = 0
        for channel_id, leg in list(self._legs.items()):
            if channel_id not in alive:
                leg.mark_gone()
                self._legs.pop(channel_id, None)
                lost += 1
            else:
                await leg.resync()
        log.info("reconciled after reconnect: %d leg(s) alive, %d gone", len(self._legs), lost)

    async def _filter_events(self) -> None:
        body = {"disallowed": [{"type": kind} for kind in IGNORED_EVENTS]}
        try:
            await self.client.request("PUT", f"/applications/{self.app}/eventFilter", body=body)
        except AriError as exc:  # only costs CPU: the events are ignored anyway
            log.warning("could not set the ARI event filter: %s", exc)

    async def _on_disconnect(self) -> None:
        log.warning("ARI event stream down; %d leg(s) waiting for it to return", len(self._legs))

    # -- outbound ---------------------------------------------------------------
    async def originate(
        self,
        endpoint: str,
        *,
        caller_id: str,
        timeout: float,
        variables: dict[str, str] | None = None,
    ) -> AriLeg:
        channel_id = new_id("ag_")
        leg = AriLeg(self, Channel(id=channel_id, exten=endpoint))
        self._legs[channel_id] = leg
        params: dict[str, str | int | float] = {
            "endpoint": endpoint,
            "app": self.app,
            "appArgs": "originated",
            "callerId": caller_id,
            "timeout": max(1, int(timeout)),
        }
        if endpoint.upper().startswith("PJSIP/"):
            # A phone's REFER becomes a ChannelTransfer event for its owner; Asterisk's own
            # handling would take the caller out of the application.
            variables = {TRANSFER_HANDLING: "ari-only", **(variables or {})}
        try:
            body = {"variables": variables} if variables else None
            try:
                await self.client.request("POST", f"/channels/{channel_id}", params, body)
            except AriError as exc:
                # e.g. 500 "Allocation failed": the phone is not registered. For the caller
                # this is the same as an agent who does not answer.
                leg.mark_gone()
                raise CallerHungUp(
                    f"{endpoint} cannot be called: {exc.message}", leg_id=channel_id
                ) from exc
            entered = asyncio.ensure_future(leg._entered.wait())
            gone = asyncio.ensure_future(leg.wait_hangup())
            try:
                await asyncio.wait(
                    {entered, gone}, timeout=timeout + 5.0, return_when="FIRST_COMPLETED"
                )
            finally:
                entered.cancel()
                gone.cancel()
            if not leg._entered.is_set() or leg.hung_up:
                await leg.hangup()
                raise CallerHungUp(
                    f"{endpoint} did not answer", leg_id=channel_id, cause=leg.hangup_cause
                )
            return leg
        except BaseException:
            # No answer, or the owner gave up (e.g. the caller left): never leave the
            # agent's phone ringing.
            if not leg.hung_up:
                with contextlib.suppress(AriError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await asyncio.shield(leg.hangup())
            self._legs.pop(channel_id, None)
            raise

    async def bridge(self, legs: Sequence[Any]) -> str:
        # addChannel would wait for a prompt or announcement still playing on a leg.
        await asyncio.gather(*(leg.silence() for leg in legs if isinstance(leg, AriLeg)))
        bridge_id = new_id("br_")
        await self.client.request("POST", f"/bridges/{bridge_id}", {"type": "mixing"})
        try:
            await self.client.request(
                "POST",
                f"/bridges/{bridge_id}/addChannel",
                {"channel": ",".join(leg.id for leg in legs)},
            )
        except (AriNotFound, AriConflict) as exc:
            await self.destroy_bridge(bridge_id)
            raise CallerHungUp("a leg left before it could be bridged") from exc
        return bridge_id

    async def destroy_bridge(self, bridge_id: str) -> None:
        with contextlib.suppress(AriNotFound):
            await self.client.request("DELETE", f"/bridges/{bridge_id}")

    # -- recording --------------------------------------------------------------
    def _on_recording(self, event: AriEvent) -> None:
        recording = event.raw.get("recording") or {}
        name = recording.get("name", "")
        log.info("recording %s: %s", name, event.type)
        if event.type == "RecordingStarted":
            return
        done = self._recordings.get(name)
        if done is not None and not done.done():
            done.set_result(dict(recording, state=event.type))

    async def record_bridge(self, bridge_id: str, name: str) -> str:
        """Record a bridge (Asterisk writes ``<spool>/recording/<name>.wav``)."""
        self._recordings[name] = asyncio.get_running_loop().create_future()
        try:
            await self.client.request(
                "POST",
                f"/bridges/{bridge_id}/record",
                {
                    "name": name,
                    "format": RECORDING_FORMAT,
                    "ifExists": "fail",
                    "beep": "false",
                    "terminateOn": "none",
                },
            )
        except AriError as exc:
            self._recordings.pop(name, None)
            raise RecordingFailed(
                f"bridge {bridge_id} could not be recorded as {name}: {exc.message} "
                "(does the recording directory exist in Asterisk's spool?)",
                bridge_id=bridge_id,
                name=name,
            ) from exc
        return f"{name}.{RECORDING_FORMAT}"

    async def stop_recording(self, name: str, timeout: float) -> float | None:
        done = self._recordings.get(name)
        if done is None:
            return None
        try:
            if not done.done():
                with contextlib.suppress(AriNotFound, AriConflict):  # already over
                    await self.client.request("POST", f"/recordings/live/{name}/stop")
            async with asyncio.timeout(timeout):
                recording = await asyncio.shield(done)
        except (AriError, TimeoutError) as exc:
            log.warning("recording %s: no end seen (%s)", name, exc)
            return None
        finally:
            self._recordings.pop(name, None)
        if recording.get("state") == "RecordingFailed":
            log.warning("recording %s failed: %s", name, recording.get("cause"))
            return None
        duration = recording.get("duration")
        return float(duration) if isinstance(duration, int | float) else 0.0
