"""A caller's time in a queue: music, announcements, agent offers, the bridge, wrap-up.

Implements the IVR's ``Enqueuer`` port for voice. The routing engine decides *who*
(possibly in another process); this decides *how*: it rings the offered agent's
phone with the caller's name and verification in the caller ID, reports RONA when
nobody answers (the task keeps its place), and on answer stops the music and bridges
caller and agent. Whoever hangs up first ends the other leg; the agent goes to
wrap-up and the task completes.

Per queue, the conversation can be recorded (the bridge's mixed audio; the file name is
stored with the interaction). The agent can blind-transfer the caller to another queue
(``call.transfer_requested`` on the task's event stream, see ``voice_transfer``): the
agent's leg is hung up, the agent wraps up the old task, and the caller hears the new
queue's music as a new task carrying the same customer context and verification.

With callbacks (``voice_callback``), a key pressed while waiting, or the offer at the
queue's maximum wait, turns the call into a callback that keeps its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from contactcore.acd.model import CustomerContext, TaskPosition, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.channels.signals import TaskSignals
from contactcore.channels.voice_callback import CallbackOffers, CallbackRequest
from contactcore.channels.voice_transfer import TRANSFER_REQUESTED
from contactcore.core.clock import Clock
from contactcore.core.events import DomainEvent
from contactcore.core.ids import new_id
from contactcore.core.telephony import (
    CallContext,
    CallerHungUp,
    QueueOutcome,
    QueueRequest,
    QueueResult,
    TimelineRecorder,
    Verification,
)
from contactcore.core.voice import Leg, RecordingFailed, Telephony
from contactcore.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VoiceQueueSettings:
    """The voice side of a queue (routing rules live in the ACD's QueueConfig)."""

    moh_class: str = "default"
    announce_position: bool = True
    announce_wait: bool = True
    announce_every_s: float = 30.0
    offer_timeout_s: float = 15.0
    record: bool = False


@dataclass(frozen=True, slots=True)
class AgentLine:
    """How to ring an agent: the dial string of their phone and the name to show."""

    endpoint: str  # e.g. "PJSIP/agent1001"
    name: str


AgentLines = Callable[[str], Awaitable[AgentLine | None]]
PositionLookup = Callable[[str, str], Awaitable[TaskPosition | None]]
# told (interaction id, file name) when a conversation is being recorded
RecordingNoted = Callable[[str, str], Awaitable[None]]

RECORDING_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class _Segment:
    """One stay of the call in one queue: the first, or one after a transfer."""

    task_id: str
    queue: str
    events: asyncio.Queue[DomainEvent]
    enqueued_at: float


def announcement(position: TaskPosition, settings: VoiceQueueSettings) -> list[str]:
    """Asterisk's own queue sounds: position, then the wait rounded to whole minutes."""
    media: list[str] = []
    if settings.announce_position:
        if position.position <= 1:
            media.append("sound:queue-youarenext")
        else:
            media += ["sound:queue-thereare", f"number:{position.position - 1}"]
            media.append("sound:queue-callswaiting")
    if settings.announce_wait and position.ewt_s > 0:
        if position.ewt_s < 60:
            media += ["sound:queue-holdtime", "sound:queue-less-than", "number:1"]
            media.append("sound:queue-minute")
        else:
            minutes = round(position.ewt_s / 60)
            unit = "sound:queue-minute" if minutes == 1 else "sound:queue-minutes"
            media += ["sound:queue-holdtime", f"number:{minutes}", unit]
    return media


def caller_id(context: CallContext) -> str:
    """What the agent's phone shows: who it is and whether they were verified."""
    who = context.customer.name if context.customer else "Unknown caller"
    tag = {
        Verification.VERIFIED: "verified",
        Verification.IDENTIFIED: "identified",
        Verification.FAILED: "NOT verified",
    }.get(context.verification, "unverified")
    name = f"{who} ({tag})".replace('"', "'")
    return f'"{name}" <{context.caller_number or "anonymous"}>'


class _Announcer:
    """The periodic announcements of one waiting call, stopped before anything else plays.

    Stopping sets a flag the loop checks before it plays or restarts the music, then
    cancels, and waits only briefly: redis-py can swallow a cancellation that arrives in
    the middle of a command, and that must not keep the caller from their agent.
    """

    STOP_WAIT_S = 2.0

    def __init__(self, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        self.stopped = asyncio.Event()
        self.task = asyncio.create_task(work(self.stopped), name="announcements")

    async def stop(self) -> None:
        self.stopped.set()
        self.task.cancel()
        done, _ = await asyncio.wait({self.task}, timeout=self.STOP_WAIT_S)
        if not done:
            log.warning("announcements did not stop within %.0fs; going on", self.STOP_WAIT_S)


class VoiceQueue:
    def __init__(
        self,
        routing: RoutingService,
        signals: TaskSignals,
        telephony: Telephony,
        legs: Mapping[str, Leg],
        agent_lines: AgentLines,
        position: PositionLookup,
        settings: Mapping[str, VoiceQueueSettings],
        recorder: TimelineRecorder,
        clock: Clock,
        on_recording: RecordingNoted | None = None,
        callbacks: CallbackOffers | None = None,
    ) -> None:
        self._routing = routing
        self._signals = signals
        self._telephony = telephony
        self._legs = legs
        self._agent_lines = agent_lines
        self._position = position
        self._settings = settings
        self._recorder = recorder
        self._clock = clock
        self._on_recording = on_recording
        self._callbacks = callbacks

    async def _record(self, ctx: CallContext, kind: str, **fields: Any) -> None:
        ids = {k: fields.pop(k) for k in ("task_id", "agent_id", "queue_id") if k in fields}
        event = DomainEvent(
            type=kind,
            at=self._clock.now(),
            interaction_id=ctx.interaction_id,
            payload=fields,
            **ids,
        )
        try:
            await self._recorder(event)
        except Exception:
            log.exception("call %s: could not record %s", ctx.interaction_id, kind)

    def _task(
        self, request: QueueRequest, queue: str, skills: dict[str, int], **attributes: str
    ) -> TaskSpec:
        ctx = request.context
        customer = ctx.customer
        return TaskSpec(
            id=new_id("tk_"),
            channel="voice",
            queue=queue,
            priority=request.priority,
            skills=skills,
            customer=CustomerContext(
                id=customer.id if customer else None,
                tier=customer.tier if customer else None,
                verified=ctx.verification is Verification.VERIFIED,
            ),
            attributes={
                "call_id": request.call_id,
                "interaction_id": ctx.interaction_id,
                "verification": str(ctx.verification),
                **attributes,
            },
        )

    async def enqueue(self, request: QueueRequest) -> QueueResult:
        leg = self._legs[request.call_id]
        ctx = request.context
        queue = request.queue
        spec = self._task(request, queue, request.skills)
        task_id = spec.id
        events = self._signals.watch(task_id)
        enqueued_at = self._clock.now()
        try:
            await self._routing.enqueue(spec)
        except Conflict as exc:
            self._signals.unwatch(task_id)
            await self._record(ctx, "queue.closed", queue_id=queue, reason=str(exc))
            return QueueResult(outcome=QueueOutcome.CLOSED)
        await self._record(ctx, "queue.entered", task_id=task_id, queue_id=queue)
        log.info("call %s queued in %s as %s", request.call_id, queue, task_id)
        segment = _Segment(task_id, queue, events, enqueued_at)
        moves: list[_Segment] = []  # where an agent transferred the caller to
        while True:
            settings = self._settings.get(segment.queue, VoiceQueueSettings())
            try:
                result = await self._wait(leg, ctx, segment, settings, request, moves)
            except BaseException:
                for moved in moves:  # enqueued for a transfer that never got that far
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._routing.withdraw(moved.task_id, "interrupted"))
                    self._signals.unwatch(moved.task_id)
                raise
            finally:
                self._signals.unwatch(segment.task_id)
            if not moves:
                return result
            segment = moves.pop()

    async def _wait(
        self,
        leg: Leg,
        ctx: CallContext,
        segment: _Segment,
        settings: VoiceQueueSettings,
        request: QueueRequest,
        moves: list[_Segment],
    ) -> QueueResult:
        """The call's stay in one queue. After a transfer by the agent, the stay in the next
        queue (already enqueued and watched) is appended to ``moves``."""
        task_id, queue, events = segment.task_id, segment.queue, segment.events
        enqueued_at = segment.enqueued_at

        def result(outcome: QueueOutcome, agent_id: str | None = None) -> QueueResult:
            waited = self._clock.now() - enqueued_at
            return QueueResult(
                outcome=outcome, waited=waited, agent_id=agent_id, enqueued_at=enqueued_at
            )

        hangup = asyncio.ensure_future(leg.wait_hangup())
        announcer: _Announcer | None = None
        # a callback asked for by key (between or during announcements)
        wish = asyncio.Event()
        listener: asyncio.Task[None] | None = None
        resumed_at = 0.0  # events before a callback dialog that came to nothing are stale

        def announce(moh_playing: bool) -> _Announcer:
            return _Announcer(
                partial(self._announce, leg, task_id, queue, settings, moh_playing, wish)
            )

        async def take_callback() -> bool | None:
            if announcer is not None:
                await announcer.stop()
            if listener is not None:
                listener.cancel()
            return await self._take_callback(leg, ctx, request, task_id, queue, enqueued_at)

        try:
            # The announcer starts the music after the entry announcement: starting it
            # here would only have it stopped again a few milliseconds later.
            announcer = announce(False)
            listener = self._listen(leg, queue, wish)
            while True:
                next_event = asyncio.ensure_future(events.get())
                wished = asyncio.ensure_future(wish.wait())
                await asyncio.wait(
                    {hangup, next_event, wished}, return_when=asyncio.FIRST_COMPLETED
                )
                wished.cancel()
                if hangup.done():
                    next_event.cancel()
                    await self._abandon(ctx, task_id, queue, enqueued_at)
                    return result(QueueOutcome.ABANDONED)
                if wish.is_set() and not next_event.done():
                    next_event.cancel()
                    taken = await take_callback()
                    if taken is True:
                        return result(QueueOutcome.CALLBACK)
                    if taken is False:  # back in its place: what came before is stale
                        resumed_at = self._clock.now()
                    wish.clear()
                    announcer = announce(False)
                    listener = self._listen(leg, queue, wish)
                    continue
                event = next_event.result()
                if event.at < resumed_at:
                    continue
                log.debug("call %s task %s: %s", ctx.interaction_id, task_id, event.type)
                if event.type == "task.offered" and event.agent_id:
                    await announcer.stop()
                    answered = await self._offer(
                        leg, ctx, task_id, event, settings, hangup,
                        events=events, request=request, moves=moves,
                    )  # fmt: skip
                    if answered:
                        return result(QueueOutcome.ANSWERED, event.agent_id)
                    if hangup.done():
                        await self._abandon(ctx, task_id, queue, enqueued_at)
                        return result(QueueOutcome.ABANDONED)
                    await leg.start_moh(settings.moh_class)
                    announcer = announce(True)
                elif event.type == "task.withdrawn":
                    await self._record(ctx, "queue.left", task_id=task_id, **event.payload)
                    return result(QueueOutcome.OVERFLOWED)
                elif event.type == "task.max_wait_reached":
                    # the queue's NOTIFY action: a last offer of a callback, then as before
                    if self._callbacks is not None and self._callbacks.enabled(queue):
                        await announcer.stop()
                        if listener is not None:
                            listener.cancel()
                        await leg.stop_moh()
                        await self._record(ctx, "callback.offered_at_max_wait", task_id=task_id)
                        if await self._callbacks.last_offer(leg) and await take_callback():
                            return result(QueueOutcome.CALLBACK)
                    with contextlib.suppress(Conflict):
                        await self._routing.withdraw(task_id, "max-wait")
                    await self._record(ctx, "queue.max_wait", task_id=task_id, queue_id=queue)
                    return result(QueueOutcome.OVERFLOWED)
                elif event.type in ("task.moved", "task.overflowed"):
                    queue = event.queue_id or queue
                    settings = self._settings.get(queue, settings)
                    await self._record(ctx, "queue.moved", task_id=task_id, queue_id=queue)
        except CallerHungUp:
            await self._abandon(ctx, task_id, queue, enqueued_at)
            return result(QueueOutcome.ABANDONED)
        finally:
            hangup.cancel()
            if listener is not None:
                listener.cancel()
            if announcer is not None:
                announcer.stopped.set()
                announcer.task.cancel()

    def _listen(self, leg: Leg, queue: str, wish: asyncio.Event) -> asyncio.Task[None] | None:
        if self._callbacks is None or not self._callbacks.enabled(queue):
            return None
        return asyncio.create_task(self._callbacks.listen(leg, wish), name="callback-key")

    async def _take_callback(
        self,
        leg: Leg,
        ctx: CallContext,
        request: QueueRequest,
        task_id: str,
        queue: str,
        enqueued_at: float,
    ) -> bool | None:
        """The caller asked for a callback: out of the queue for the dialog; on a callback
        (True) the call ends, otherwise (False) the task goes back to its original place.
        None: too late, an agent's offer is on its way."""
        assert self._callbacks is not None
        position = await self._position(queue, task_id)
        try:
            await self._routing.withdraw(task_id, "callback-offer")
        except Conflict:
            return None
        await leg.stop_moh()
        await self._record(ctx, "callback.offer_taken", task_id=task_id, queue_id=queue)
        callback = await self._callbacks.take(
            leg,
            ctx,
            CallbackRequest(
                queue=queue,
                enqueued_at=enqueued_at,
                priority=request.priority,
                skills=dict(request.skills),
                ewt_s=position.ewt_s if position is not None else -1.0,
            ),
        )
        if callback is not None:
            await self._record(
                ctx,
                "callback.requested",
                task_id=task_id,
                queue_id=queue,
                callback_id=callback.id,
                number=callback.number,
                callback_task_id=callback.task_id,
            )
            return True
        # the same id and enqueued-at: the same place
        spec = self._task(request, queue, request.skills)
        await self._routing.enqueue(
            spec.model_copy(update={"id": task_id, "enqueued_at": enqueued_at})
        )
        await self._record(ctx, "callback.declined", task_id=task_id, queue_id=queue)
        return False

    async def _abandon(self, ctx: CallContext, task_id: str, queue: str, since: float) -> None:
        with contextlib.suppress(Conflict):
            await self._routing.withdraw(task_id, "abandoned")
        waited = self._clock.now() - since
        await self._record(ctx, "queue.abandoned", task_id=task_id, queue_id=queue, waited=waited)
        log.info("call %s abandoned after %.1fs in %s", ctx.interaction_id, waited, queue)

    async def _announce(
        self,
        leg: Leg,
        task_id: str,
        queue: str,
        settings: VoiceQueueSettings,
        moh_playing: bool,
        wish: asyncio.Event,
        stopped: asyncio.Event,
    ) -> None:
        """On entry and every N seconds; music stops for the announcement, then resumes.

        With callbacks, the announcement also tells the callback key (on entry, and
        again while the expected wait is over the queue's threshold); pressing it during
        the announcement asks for the callback at once.
        """
        offers = self._callbacks if self._callbacks and self._callbacks.enabled(queue) else None
        announces = settings.announce_position or settings.announce_wait
        first = True
        while not stopped.is_set():
            media: list[str] = []
            if announces or offers is not None:
                position = await self._position(queue, task_id)
                if announces and position is not None:
                    media = announcement(position, settings)
                if offers is not None:
                    ewt = position.ewt_s if position is not None else -1.0
                    media += offers.offer_media(queue, ewt, first)
            first = False
            if media and not stopped.is_set():
                if moh_playing:
                    await leg.stop_moh()
                    moh_playing = False
                try:
                    keys = offers.offer_key if offers is not None else ""
                    played = await leg.play(media, interrupt_keys=keys)
                    if played.interrupted_by and offers is not None:
                        wish.set()
                        return
                finally:
                    if not stopped.is_set():
                        with contextlib.suppress(CallerHungUp):
                            await asyncio.shield(leg.start_moh(settings.moh_class))
                        moh_playing = True
            if not moh_playing and not stopped.is_set():
                with contextlib.suppress(CallerHungUp):
                    await asyncio.shield(leg.start_moh(settings.moh_class))
                moh_playing = True
            if not (announces or offers is not None):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), settings.announce_every_s)

    async def _offer(
        self,
        leg: Leg,
        ctx: CallContext,
        task_id: str,
        offer: DomainEvent,
        settings: VoiceQueueSettings,
        hangup: asyncio.Future[None],
        *,
        events: asyncio.Queue[DomainEvent],
        request: QueueRequest,
        moves: list[_Segment],
    ) -> bool:
        agent_id = offer.agent_id or ""
        log.info("call %s: offered to agent %s", ctx.interaction_id, agent_id)
        line = await self._agent_lines(agent_id)
        await self._record(ctx, "agent.offered", task_id=task_id, agent_id=agent_id)
        if line is None:
            log.warning("agent %s has no phone; reporting no answer", agent_id)
            with contextlib.suppress(Conflict):
                await self._routing.no_answer(task_id, agent_id, "no-phone")
            return False
        # Ring a little shorter than the engine's own offer timeout, so that RONA is
        # reported here rather than by the engine's clock.
        ring_s = max(1.0, settings.offer_timeout_s - 1.0)
        dial: asyncio.Future[Any] = asyncio.ensure_future(
            self._telephony.originate(line.endpoint, caller_id=caller_id(ctx), timeout=ring_s)
        )
        racing: set[asyncio.Future[Any]] = {dial, hangup}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if not dial.done():  # the caller left while the agent's phone rang
            dial.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
                await dial
            return False
        try:
            agent_leg: Leg = dial.result()
        except CallerHungUp:
            await self._record(ctx, "agent.no_answer", task_id=task_id, agent_id=agent_id)
            with contextlib.suppress(Conflict):
                await self._routing.no_answer(task_id, agent_id)
            return False
        try:
            await self._routing.accept(task_id, agent_id)
        except Conflict:
            # Too late (the engine already timed the offer out): release the agent.
            await agent_leg.hangup()
            return False
        await self._record(ctx, "agent.answered", task_id=task_id, agent_id=agent_id)
        await self._talk(
            leg,
            agent_leg,
            ctx,
            task_id,
            agent_id,
            record=settings.record,
            events=events,
            request=request,
            queue=offer.queue_id or request.queue,
            moves=moves,
        )
        return True

    async def _talk(
        self,
        leg: Leg,
        agent_leg: Leg,
        ctx: CallContext,
        task_id: str,
        agent_id: str,
        *,
        record: bool,
        events: asyncio.Queue[DomainEvent],
        request: QueueRequest,
        queue: str,
        moves: list[_Segment],
    ) -> None:
        """Caller and agent in one bridge until either hangs up or the agent transfers
        the caller (the next queue's stay is then appended to ``moves``)."""
        started = self._clock.now()
        bridge_id: str | None = None
        recording: tuple[str, str] | None = None  # (name, file)
        then: _Segment | None = None
        try:
            await leg.stop_moh()
            bridge_id = await self._telephony.bridge([leg, agent_leg])
            await self._record(ctx, "call.bridged", task_id=task_id, agent_id=agent_id)
            if record:
                recording = await self._start_recording(ctx, bridge_id, task_id, agent_id)
            ends: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(leg.wait_hangup()),
                asyncio.ensure_future(agent_leg.wait_hangup()),
            ]
            # a transfer comes from the API (an event for the task, from any process) or
            # from the agent's phone (SIP REFER on the agent's leg)
            command: asyncio.Future[Any] = asyncio.ensure_future(events.get())
            refer: asyncio.Future[Any] = asyncio.ensure_future(agent_leg.wait_transfer())
            try:
                while then is None:
                    await asyncio.wait([*ends, command, refer], return_when=asyncio.FIRST_COMPLETED)
                    if any(end.done() for end in ends):
                        break
                    if refer.done():
                        target = str(refer.result())
                        refer = asyncio.ensure_future(agent_leg.wait_transfer())
                        await self._record(
                            ctx, "call.transfer_requested", task_id=task_id, agent_id=agent_id,
                            queue_id=queue, queue=target, via="refer",
                        )  # fmt: skip
                        then = await self._transfer(ctx, request, task_id, agent_id, queue, target)
                        # the phone hears how it went (NOTIFY) before its leg is hung up
                        await agent_leg.transfer_progress(then is not None)
                    if command.done():
                        event: DomainEvent = command.result()
                        command = asyncio.ensure_future(events.get())
                        if event.type == TRANSFER_REQUESTED and then is None:
                            target = str(event.payload.get("queue") or "")
                            then = await self._transfer(
                                ctx, request, task_id, agent_id, queue, target
                            )
                    if then is not None:
                        moves.append(then)
            finally:
                command.cancel()
                refer.cancel()
                for end in ends:
                    end.cancel()
        except CallerHungUp:
            pass
        finally:
            ended_by = "transfer" if then is not None else "caller" if leg.hung_up else "agent"
            with contextlib.suppress(CallerHungUp):
                await asyncio.shield(agent_leg.hangup())
            if then is None:
                with contextlib.suppress(CallerHungUp):
                    await asyncio.shield(leg.hangup())
            if recording is not None:
                await asyncio.shield(self._finish_recording(ctx, recording, task_id, agent_id))
            if bridge_id is not None:
                await asyncio.shield(self._telephony.destroy_bridge(bridge_id))
            with contextlib.suppress(Conflict):
                await asyncio.shield(self._routing.finish(task_id, agent_id))
            talk = self._clock.now() - started
            await self._record(
                ctx, "call.talk_ended", task_id=task_id, agent_id=agent_id, talk=talk, by=ended_by
            )
            if then is not None:
                await self._record(
                    ctx,
                    "call.transferred",
                    task_id=task_id,
                    agent_id=agent_id,
                    queue_id=queue,
                    to_queue=then.queue,
                    new_task_id=then.task_id,
                    outcome="transferred",
                )
                await self._record(
                    ctx, "queue.entered", task_id=then.task_id, queue_id=then.queue,
                    transferred_from=queue,
                )  # fmt: skip

    async def _transfer(
        self,
        ctx: CallContext,
        request: QueueRequest,
        task_id: str,
        agent_id: str,
        queue: str,
        target: str,
    ) -> _Segment | None:
        """Put the caller in ``target`` as a new task while still talking; None if refused.

        The new task keeps the customer, verification and priority; skills are the new
        queue's own (the ones the flow chose were for the old queue).
        """
        log.info(
            "call %s: agent %s transfers %s to %s", ctx.interaction_id, agent_id, queue, target
        )
        if not target:
            await self._record(
                ctx, "call.transfer_failed", task_id=task_id, agent_id=agent_id, queue_id=queue,
                to_queue=target, reason="only blind transfers to a queue are supported",
            )  # fmt: skip
            return None
        spec = self._task(
            request, target, {}, transferred_from=queue, previous_task=task_id, by_agent=agent_id
        )
        events = self._signals.watch(spec.id)
        enqueued_at = self._clock.now()
        try:
            await self._routing.enqueue(spec)
        except (Conflict, NotFound, InvalidInput) as exc:  # closed, unknown, no voice
            self._signals.unwatch(spec.id)
            log.warning("call %s: transfer to %s refused: %s", ctx.interaction_id, target, exc)
            await self._record(
                ctx, "call.transfer_failed", task_id=task_id, agent_id=agent_id, queue_id=queue,
                to_queue=target, reason=str(exc),
            )  # fmt: skip
            return None
        return _Segment(spec.id, target, events, enqueued_at)

    async def _start_recording(
        self, ctx: CallContext, bridge_id: str, task_id: str, agent_id: str
    ) -> tuple[str, str] | None:
        """Record the bridge; returns (recording name, file name), None if refused."""
        name = f"{ctx.interaction_id}-{task_id}"
        try:
            file = await self._telephony.record_bridge(bridge_id, name)
        except RecordingFailed as exc:
            log.warning("call %s: not recorded: %s", ctx.interaction_id, exc)
            await self._record(
                ctx, "call.recording_failed", task_id=task_id, agent_id=agent_id, reason=str(exc)
            )
            return None
        await self._record(
            ctx, "call.recording_started", task_id=task_id, agent_id=agent_id, recording=file
        )
        if self._on_recording is not None:
            try:
                await self._on_recording(ctx.interaction_id, file)
            except Exception:
                log.exception("call %s: could not store recording %s", ctx.interaction_id, file)
        return name, file

    async def _finish_recording(
        self, ctx: CallContext, recording: tuple[str, str], task_id: str, agent_id: str
    ) -> None:
        name, file = recording
        duration = await self._telephony.stop_recording(name, RECORDING_STOP_TIMEOUT_S)
        await self._record(
            ctx,
            "call.recording_finished",
            task_id=task_id,
            agent_id=agent_id,
            recording=file,
            duration=duration,
            complete=duration is not None,
        )
