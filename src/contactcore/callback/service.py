"""Callbacks: requests (from a waiting call or the API), scheduling, agent-first dialling.

A callback keeps the caller's place: it becomes a task of channel ``callback`` in the
same queue with the original enqueued time and priority (virtual hold). When the
routing engine offers it to an agent, the agent's phone rings first (caller ID
"Callback: <name>"); on answer the customer is dialled with the contact centre's
caller ID, hears a short announcement and presses a key to be connected (an answering
machine does not), and the two are bridged. No answer, busy or no key: the agent is
freed at once and the callback is tried again after the queue's delay, up to its
number of attempts, then closed as failed with the reason. Every step goes on the
callback's interaction record. Pending callbacks live in SQL (the ``CallbackStore``);
their routing tasks are durable in the ACD too, so a restart of contactcore or of
Redis loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contactcore.callback.model import (
    AttemptOutcome,
    Callback,
    CallbackPolicy,
    CallbackState,
    CallbackTask,
    Retry,
)
from contactcore.callback.ports import (
    AgentPhone,
    CallbackRouting,
    CallbackRow,
    CallbackStore,
    OfferTimeout,
    OpeningHours,
    PolicyLookup,
)
from contactcore.callback.rules import (
    after_failed_attempt,
    check_window,
    dial_failure,
    normalise_number,
)
from contactcore.core.clock import Clock
from contactcore.core.events import DomainEvent
from contactcore.core.ids import new_id
from contactcore.core.ports import EventFeed, InteractionRecorder, follow
from contactcore.core.voice import CallerHungUp, Leg, Telephony
from contactcore.errors import Conflict, NotFound, Unprocessable

log = logging.getLogger(__name__)

DTMF_KEYS = "0123456789*#"
# Agent-left is not the customer's fault: the callback goes back to the queue at once.
AGENT_LEFT = "agent-left"


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    region: str = "US"
    caller_id: str = '"Contact Core" <+12025550100>'
    dial_string: str = "PJSIP/{number}@customers"
    agent_ring_s: float = 15.0
    customer_ring_s: float = 30.0
    confirm_key: str = "1"
    confirm_timeout_s: float = 10.0
    skip_wrapup_after_failure: bool = True
    poll_s: float = 1.0
    prompt_prefix: str = "contactcore"

    def prompt(self, name: str) -> str:
        return f"sound:{self.prompt_prefix}/{name}"


def view(row: CallbackRow) -> Callback:
    data = row.data
    return Callback(
        id=row.id,
        task_id=row.task_id,
        queue=row.queue_id,
        number=row.number,
        name=data.get("name"),
        state=CallbackState(row.state),
        attempts=row.attempts,
        last_reason=row.last_reason,
        requested_at=row.requested_at,
        window_start=row.window_start,
        window_end=row.window_end,
        enqueued_at=float(data.get("enqueued_at", row.window_start)),
        agent_id=data.get("agent_id"),
        interaction_id=data.get("interaction_id"),
    )


def task_of(row: CallbackRow) -> CallbackTask:
    data = row.data
    return CallbackTask(
        id=row.task_id,
        queue=row.queue_id,
        enqueued_at=float(data.get("enqueued_at", row.window_start)),
        priority=float(data.get("priority", 0.0)),
        skills={str(k): int(v) for k, v in dict(data.get("skills") or {}).items()},
        customer_id=data.get("customer_id"),
        tier=data.get("tier"),
        verified=bool(data.get("verified", False)),
        attributes={
            "callback_id": row.id,
            "number": row.number,
            "interaction_id": data.get("interaction_id"),
        },
    )


class CallbackService:
    def __init__(
        self,
        store: CallbackStore,
        routing: CallbackRouting,
        telephony: Telephony,
        recorder: InteractionRecorder,
        clock: Clock,
        config: CallbackConfig,
        policies: PolicyLookup,
        hours: OpeningHours,
        agent_phone: AgentPhone,
        offer_timeout: OfferTimeout,
    ) -> None:
        self._store = store
        self._routing = routing
        self._telephony = telephony
        self._recorder = recorder
        self._clock = clock
        self.config = config
        self._policies = policies
        self._hours = hours
        self._agent_phone = agent_phone
        self._offer_timeout = offer_timeout
        self._serving: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    # ---------------------------------------------------------------- requests
    def policy(self, queue: str) -> CallbackPolicy | None:
        return self._policies(queue)

    def normalise(self, number: str | None) -> str:
        return normalise_number(number, self.config.region)

    async def from_call(
        self,
        *,
        number: str,
        queue: str,
        enqueued_at: float,
        priority: float,
        skills: Mapping[str, int],
        customer_id: str | None,
        tier: str | None,
        verified: bool,
        name: str | None,
        call_interaction_id: str,
    ) -> Callback:
        """A waiting caller asked to be called back: queued at once, keeping the place."""
        callback, _ = await self._request(
            number=self.normalise(number),
            queue=queue,
            window_start=self._clock.now(),
            window_end=None,
            enqueued_at=enqueued_at,
            fields={
                "priority": priority,
                "skills": dict(skills),
                "customer_id": customer_id,
                "tier": tier,
                "verified": verified,
                "name": name,
                "origin": "call",
                "call_interaction_id": call_interaction_id,
            },
        )
        return callback

    async def schedule(
        self,
        *,
        number: str,
        queue: str,
        window_start: float,
        window_end: float | None,
        name: str | None,
    ) -> tuple[Callback, bool]:
        """A callback for a time window (API); only inside the queue's business hours."""
        policy = self.policy(queue)
        if policy is None:
            raise NotFound(f"queue: queue {queue} not found", queue=queue)
        if not policy.enabled:
            raise Unprocessable(f"queue: queue {queue} does not take callbacks")
        e164 = self.normalise(number)
        start = check_window(queue, window_start, window_end, self._clock.now(), self._hours)
        return await self._request(
            number=e164,
            queue=queue,
            window_start=start,
            window_end=window_end,
            enqueued_at=start,
            fields={"name": name, "origin": "api"},
        )

    async def _request(
        self,
        *,
        number: str,
        queue: str,
        window_start: float,
        window_end: float | None,
        enqueued_at: float,
        fields: Mapping[str, Any],
    ) -> tuple[Callback, bool]:
        now = self._clock.now()
        before = next(
            (r for r in await self._store.list_pending(queue_id=queue) if r.number == number), None
        )
        data: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        if before is not None:
            # One open callback per number and queue: the second request updates the
            # first, which keeps its record, its task and the earlier place in line.
            data = dict(before.data) | data
            data["enqueued_at"] = min(float(before.data.get("enqueued_at", now)), enqueued_at)
        else:
            data["enqueued_at"] = enqueued_at
            data["interaction_id"] = new_id("ix_")
        row, created = await self._store.request(
            number, queue, new_id("tk_"), window_start, window_end, data
        )
        ix = str(row.data["interaction_id"])
        if created:
            await self._recorder.start(ix, "callback", now, caller=None, called=number)
        await self._event(
            row,
            "callback.requested" if created else "callback.updated",
            origin=data.get("origin"),
            window_start=window_start,
            window_end=window_end,
            enqueued_at=data["enqueued_at"],
        )
        log.info(
            "callback %s %s for %s in %s from %.0f",
            row.id,
            "requested" if created else "updated",
            number,
            queue,
            window_start,
        )
        if window_start <= now:
            if row.state == CallbackState.PENDING:
                row = await self._enqueue(row)
        elif row.state == CallbackState.QUEUED:
            # moved to a later window: out of the queue until then
            await self._routing.withdraw(row.task_id, "callback-rescheduled")
            row = await self._store.update(row.id, {"state": CallbackState.PENDING})
        self._wake.set()
        return view(row), created

    async def pending(self, agent_id: str | None = None) -> list[Callback]:
        """Open callbacks, earliest window first; with ``agent_id`` only those offered to them."""
        rows = await self._store.list_pending()
        out = [view(r) for r in rows]
        if agent_id is not None:
            out = [c for c in out if c.agent_id == agent_id]
        return out

    async def cancel(self, callback_id: str, reason: str | None = None) -> Callback:
        """Close an open callback that no agent is dialling: out of its queue, never rung.

        The row is closed in SQL before its task leaves the ACD: an offer of the task made
        in between finds no queued callback and is not served (the engine frees the agent
        when the task is withdrawn).
        """
        row = await self._store.get(callback_id)
        if row is None:
            raise NotFound(f"callback: callback {callback_id} not found", callback=callback_id)
        why = reason or "cancelled"
        closed = None
        if row.state in (CallbackState.PENDING, CallbackState.QUEUED):
            closed = await self._store.claim(
                row.id, row.state, {"state": CallbackState.CANCELLED, "last_reason": why}
            )
        if closed is None:
            current = await self._store.get(callback_id) or row
            if current.state == CallbackState.DIALLING:
                raise Conflict(
                    f"callback: callback {callback_id} is being dialled by agent "
                    f"{current.data.get('agent_id')}; end that call instead",
                    callback=callback_id,
                    state=str(current.state),
                )
            raise Conflict(
                f"callback: callback {callback_id} is already {current.state}; nothing to cancel",
                callback=callback_id,
                state=str(current.state),
            )
        if row.state == CallbackState.QUEUED:
            try:
                await self._routing.withdraw(closed.task_id, "callback-cancelled")
            except Exception:
                # still in the ACD: queued again, or its offers would find no callback
                await self._store.update(
                    row.id, {"state": CallbackState.QUEUED, "last_reason": row.last_reason}
                )
                raise
        await self._closed(closed, str(closed.data.get("interaction_id", "")), "cancelled", why)
        return view(closed)

    # ---------------------------------------------------------------- scheduling
    async def _enqueue(self, row: CallbackRow) -> CallbackRow:
        # Queued in SQL first: the router may offer the task as soon as it is in the ACD,
        # and an offer is served only for a queued callback. A stop between the two
        # leaves a queued row outside the ACD, which start() puts back.
        before = row.state
        row = await self._store.update(row.id, {"state": CallbackState.QUEUED})
        try:
            added = await self._routing.enqueue(task_of(row))
        except Exception:
            await self._store.update(row.id, {"state": before})
            raise
        await self._event(row, "callback.queued", attempt=row.attempts + 1, added=added)
        log.info("callback %s queued in %s as task %s", row.id, row.queue_id, row.task_id)
        return row

    async def enqueue_due(self) -> int:
        """Pending callbacks whose window (or retry time) has come enter their queue."""
        n = 0
        for row in await self._store.list_pending(due_by=self._clock.now()):
            if row.state == CallbackState.PENDING:
                try:
                    await self._enqueue(row)
                    n += 1
                except Exception:
                    log.exception("callback %s could not be queued; will try again", row.id)
        return n

    async def start(self) -> dict[str, int]:
        """At process start: queued callbacks are made sure to be in the ACD (a rebuilt
        Redis has them from the durable tasks; this adds any that are missing), and one
        that was being dialled when the process stopped goes back to the queue."""
        counts = {"queued": 0, "recovered": 0}
        now = self._clock.now()
        for row in await self._store.list_pending():
            if row.state == CallbackState.QUEUED:
                await self._routing.enqueue(task_of(row))
                counts["queued"] += 1
            elif row.state == CallbackState.DIALLING:
                agent_id = row.data.get("agent_id")
                if agent_id:
                    await self._routing.finish(row.task_id, str(agent_id), skip_wrapup=True)
                await self._routing.withdraw(row.task_id, "callback-interrupted")
                await self._store.update(
                    row.id,
                    {
                        "state": CallbackState.PENDING,
                        "window_start": now,
                        "last_reason": "interrupted by a restart",
                    },
                )
                counts["recovered"] += 1
        await self.enqueue_due()
        log.info("callbacks at start: %s", counts)
        return counts

    async def run(self, stop: asyncio.Event, feed: EventFeed) -> None:
        """Due callbacks into their queues, and offers of callback tasks served, until
        ``stop`` is set."""
        loops = [
            asyncio.create_task(self._schedule_loop(stop), name="callback-schedule"),
            asyncio.create_task(self._offer_loop(stop, feed), name="callback-offers"),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            for task in list(self._serving):
                task.cancel()
            if self._serving:
                await asyncio.wait(self._serving, timeout=5.0)

    async def _schedule_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.enqueue_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("callback scheduling failed; retrying")
            self._wake.clear()
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(
                    waits, timeout=self.config.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waits:
                    w.cancel()

    async def _offer_loop(self, stop: asyncio.Event, feed: EventFeed) -> None:
        await follow(feed, stop, self._offers, count=200, block_ms=500)

    def _offers(self, events: list[DomainEvent]) -> None:
        """Serve each callback task offered to an agent, in a task of its own."""
        for e in events:
            if (
                e.type == "task.offered"
                and e.payload.get("channel") == "callback"
                and e.task_id
                and e.agent_id
            ):
                task = asyncio.create_task(
                    self.serve_offer(e.task_id, e.agent_id), name=f"callback-{e.task_id}"
                )
                self._serving.add(task)
                task.add_done_callback(self._served)

    def _served(self, task: asyncio.Task[None]) -> None:
        self._serving.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("serving a callback failed: %r", task.exception(), exc_info=task.exception())

    # ---------------------------------------------------------------- dialling
    async def serve_offer(self, task_id: str, agent_id: str) -> None:
        """The engine offered a callback task to an agent: agent first, then the customer."""
        row = await self._store.get_by_task(task_id)
        if row is None or row.state != CallbackState.QUEUED:
            log.warning("task %s offered to %s is no queued callback; ignored", task_id, agent_id)
            return
        data = dict(row.data) | {"agent_id": agent_id}
        claimed = await self._store.claim(
            row.id, CallbackState.QUEUED, {"state": CallbackState.DIALLING, "data": data}
        )
        if claimed is None:  # another controller process serves this offer
            return
        row = claimed
        await self._event(row, "callback.offered", agent_id=agent_id)
        phone = await self._agent_phone(agent_id)
        if phone is None:
            log.warning(
                "agent %s has no phone; callback %s goes back to the queue", agent_id, row.id
            )
            await self._routing.no_answer(task_id, agent_id)
            await self._store.update(row.id, {"state": CallbackState.QUEUED})
            return
        endpoint, _agent_name = phone
        who = str(row.data.get("name") or row.number).replace('"', "'")
        ring_s = max(1.0, min(self.config.agent_ring_s, self._offer_timeout(row.queue_id) - 1.0))
        try:
            agent_leg = await self._telephony.originate(
                endpoint, caller_id=f'"Callback: {who}" <{row.number}>', timeout=ring_s
            )
        except CallerHungUp:
            await self._event(row, "callback.agent_no_answer", agent_id=agent_id)
            await self._routing.no_answer(task_id, agent_id)
            await self._store.update(row.id, {"state": CallbackState.QUEUED})
            return
        if not await self._routing.accept(task_id, agent_id):
            await agent_leg.hangup()
            await self._store.update(row.id, {"state": CallbackState.QUEUED})
            return
        await self._event(row, "callback.agent_answered", agent_id=agent_id)
        outcome: AttemptOutcome | str = AGENT_LEFT
        try:
            outcome = await self._dial_customer(row, agent_leg, agent_id)
        finally:
            await asyncio.shield(self._close_attempt(row, agent_leg, agent_id, outcome))

    async def _dial_customer(self, row: CallbackRow, agent_leg: Leg, agent_id: str) -> Any:
        with contextlib.suppress(CallerHungUp):
            await agent_leg.start_moh()
        dial: asyncio.Future[Leg] = asyncio.ensure_future(
            self._telephony.originate(
                self.config.dial_string.format(number=row.number),
                caller_id=self.config.caller_id,
                timeout=self.config.customer_ring_s,
            )
        )
        agent_gone: asyncio.Future[Any] = asyncio.ensure_future(agent_leg.wait_hangup())
        racing: set[asyncio.Future[Any]] = {dial, agent_gone}
        try:
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        finally:
            agent_gone.cancel()
        if not dial.done():
            dial.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
                await dial
            return AGENT_LEFT
        try:
            customer = dial.result()
        except CallerHungUp as exc:
            if "cause" not in exc.details:
                return AttemptOutcome.DIAL_FAILED
            return dial_failure(exc.details.get("cause"))
        await self._event(row, "callback.customer_answered", agent_id=agent_id)
        try:
            key = await self._confirm(customer)
            if key != self.config.confirm_key:
                await customer.hangup()
                return AttemptOutcome.NO_KEY
            if agent_leg.hung_up:
                await customer.play([self.config.prompt("callback-customer-sorry")])
                await customer.hangup()
                return AGENT_LEFT
            await self._talk(row, agent_leg, customer, agent_id)
            return AttemptOutcome.CONNECTED
        except CallerHungUp:
            if customer.hung_up:
                return AttemptOutcome.CUSTOMER_HUNG_UP
            return AGENT_LEFT
        finally:
            with contextlib.suppress(CallerHungUp):
                await asyncio.shield(customer.hangup())

    async def _confirm(self, customer: Leg) -> str:
        """The announcement; the first key pressed during it or shortly after."""
        played = await customer.play(
            [self.config.prompt("callback-customer-hello")], interrupt_keys=DTMF_KEYS
        )
        if played.interrupted_by:
            return played.interrupted_by
        got = await customer.collect_digits(
            max_digits=1,
            first_digit_timeout=self.config.confirm_timeout_s,
            inter_digit_timeout=1.0,
        )
        return got.digits

    async def _talk(self, row: CallbackRow, agent_leg: Leg, customer: Leg, agent_id: str) -> None:
        await agent_leg.stop_moh()
        bridge_id = await self._telephony.bridge([agent_leg, customer])
        started = self._clock.now()
        await self._event(row, "callback.connected", agent_id=agent_id, bridge_id=bridge_id)
        ends = [
            asyncio.ensure_future(agent_leg.wait_hangup()),
            asyncio.ensure_future(customer.wait_hangup()),
        ]
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for end in ends:
                end.cancel()
            by = "agent" if agent_leg.hung_up else "customer"
            with contextlib.suppress(CallerHungUp):
                await asyncio.shield(customer.hangup())
            with contextlib.suppress(CallerHungUp):
                await asyncio.shield(agent_leg.hangup())
            await asyncio.shield(self._telephony.destroy_bridge(bridge_id))
            await self._event(
                row,
                "callback.talk_ended",
                agent_id=agent_id,
                talk=self._clock.now() - started,
                by=by,
            )

    async def _close_attempt(
        self, row: CallbackRow, agent_leg: Leg, agent_id: str, outcome: AttemptOutcome | str
    ) -> None:
        """Free the agent and record the attempt; retry, fail or close the callback."""
        connected = outcome == AttemptOutcome.CONNECTED
        if not connected and not agent_leg.hung_up:
            with contextlib.suppress(CallerHungUp):
                await agent_leg.stop_moh()
                await agent_leg.play([self.config.prompt("callback-agent-failed")])
        with contextlib.suppress(CallerHungUp):
            await agent_leg.hangup()
        skip = not connected and self.config.skip_wrapup_after_failure
        await self._routing.finish(row.task_id, agent_id, skip_wrapup=skip)
        now = self._clock.now()
        ix = str(row.data.get("interaction_id", ""))
        if outcome == AGENT_LEFT:
            # not the customer's fault: back to the queue now, no attempt counted
            row = await self._store.update(
                row.id,
                {"state": CallbackState.PENDING, "window_start": now, "last_reason": AGENT_LEFT},
            )
            await self._event(row, "callback.attempt", agent_id=agent_id, outcome=AGENT_LEFT)
            self._wake.set()
            return
        attempts = row.attempts + 1
        await self._event(
            row, "callback.attempt", agent_id=agent_id, attempt=attempts, outcome=str(outcome)
        )
        if connected:
            row = await self._store.update(
                row.id, {"state": CallbackState.DONE, "attempts": attempts, "last_reason": None}
            )
            await self._closed(row, ix, "connected", None)
            return
        policy = self.policy(row.queue_id) or CallbackPolicy()
        decision = after_failed_attempt(attempts, AttemptOutcome(outcome), policy, now)
        if isinstance(decision, Retry):
            row = await self._store.update(
                row.id,
                {
                    "state": CallbackState.PENDING,
                    "attempts": attempts,
                    "window_start": decision.at,
                    "last_reason": decision.reason,
                },
            )
            await self._event(
                row, "callback.retry_scheduled", at=decision.at, reason=decision.reason
            )
            log.info("callback %s: %s; next attempt at %.0f", row.id, decision.reason, decision.at)
            return
        row = await self._store.update(
            row.id,
            {"state": CallbackState.FAILED, "attempts": attempts, "last_reason": decision.reason},
        )
        await self._closed(row, ix, "failed", decision.reason)

    async def _closed(self, row: CallbackRow, ix: str, outcome: str, reason: str | None) -> None:
        await self._event(
            row, "callback.closed", outcome=outcome, attempts=row.attempts, reason=reason
        )
        with contextlib.suppress(Exception):
            await self._recorder.finish(ix, self._clock.now(), f"callback_{outcome}")
        log.info("callback %s closed: %s after %d attempt(s)", row.id, outcome, row.attempts)

    async def _event(self, row: CallbackRow, kind: str, **payload: Any) -> None:
        agent_id = payload.pop("agent_id", None)
        event = DomainEvent(
            type=kind,
            at=self._clock.now(),
            interaction_id=row.data.get("interaction_id"),
            task_id=row.task_id,
            agent_id=agent_id,
            queue_id=row.queue_id,
            payload={"callback_id": row.id, "number": row.number, **payload},
        )
        try:
            await self._recorder.add_event(event)
        except Exception:
            log.exception("callback %s: could not record %s", row.id, kind)
