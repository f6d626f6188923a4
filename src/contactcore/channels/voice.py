"""Voice: a call's life from StasisStart to hang-up, and its interaction record.

The telephony adapter gives every inbound leg its own task and calls
:meth:`VoiceChannel.handle`; this decides what the call does (the flow for the
number dialled) and makes sure that, however the call ends, the interaction is
closed with an outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from contactcore.core.clock import Clock
from contactcore.core.events import DomainEvent
from contactcore.core.ids import new_id
from contactcore.core.ports import InteractionRecorder
from contactcore.core.voice import CallerHungUp, Leg

log = logging.getLogger(__name__)

RECORD_TIMEOUT = 5.0


class CallJournal:
    """Writes one call's timeline; handed to whatever runs the call."""

    def __init__(self, recorder: InteractionRecorder, clock: Clock, interaction_id: str) -> None:
        self._recorder = recorder
        self._clock = clock
        self.interaction_id = interaction_id

    async def record(self, type_: str, **payload: Any) -> None:
        event = DomainEvent(
            type=type_, at=self._clock.now(), interaction_id=self.interaction_id, payload=payload
        )
        await self._recorder.add_event(event)


# A call flow runs the caller's journey and returns its outcome (e.g. "completed").
CallFlow = Callable[[Leg, CallJournal], Awaitable[str]]


async def line_test_flow(leg: Leg, journal: CallJournal) -> str:
    """The line-test number: greeting, one key, the key read back, goodbye.

    Lets an installer prove the whole chain (SIP, media, DTMF, controller, storage)
    with one call.
    """
    await journal.record("ivr.prompt", media=["sound:hello-world"])
    result = await leg.play(["sound:hello-world"], interrupt_keys="0123456789*#")
    collected = await leg.collect_digits(
        max_digits=1,
        first_digit_timeout=10.0,
        inter_digit_timeout=3.0,
        initial=result.interrupted_by or "",
    )
    digits = collected.digits
    await journal.record("ivr.digits", digits=digits)
    if digits:
        await leg.play([f"digits:{digits}"])
    await leg.play(["sound:vm-goodbye"])
    await leg.hangup()
    return "completed" if digits else "no_input"


class VoiceChannel:
    def __init__(
        self,
        recorder: InteractionRecorder,
        clock: Clock,
        flows: Mapping[str, CallFlow],
        default_flow: CallFlow | None = None,
        legs: dict[str, Leg] | None = None,
        on_closed: Callable[[str, float], Awaitable[None]] | None = None,
    ) -> None:
        self._recorder = recorder
        self._clock = clock
        self._flows = flows
        self._default = default_flow
        # every call in progress, by call id (the queue finds its caller's leg here)
        self.legs: dict[str, Leg] = legs if legs is not None else {}
        # told (interaction id, start time) once a call's record is closed, e.g. to keep
        # the planning statistics up to date as work completes
        self._on_closed = on_closed

    def flow_for(self, number: str) -> CallFlow | None:
        return self._flows.get(number, self._default)

    async def handle(self, leg: Leg) -> None:
        interaction_id = new_id("ix_")
        journal = CallJournal(self._recorder, self._clock, interaction_id)
        started = self._clock.now()
        await self._recorder.start(
            interaction_id,
            "voice",
            started,
            caller=leg.caller_number or None,
            called=leg.called_number or None,
        )
        log.info(
            "call %s leg=%s from=%s to=%s",
            interaction_id,
            leg.call_id,
            leg.caller_number,
            leg.called_number,
        )
        outcome = "failed"
        self.legs[leg.call_id] = leg
        try:
            flow = self.flow_for(leg.called_number)
            if flow is None:
                await journal.record("call.rejected", reason="no flow for this number")
                await leg.hangup("unallocated")
                outcome = "unallocated"
                return
            await leg.answer()
            await journal.record("call.answered")
            outcome = await flow(leg, journal)
        except CallerHungUp:
            outcome = "caller_hangup"
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        finally:
            self.legs.pop(leg.call_id, None)
            await self._close(journal, leg, outcome, started)

    async def _close(self, journal: CallJournal, leg: Leg, outcome: str, started: float) -> None:
        try:
            async with asyncio.timeout(RECORD_TIMEOUT):
                await journal.record("call.ended", outcome=outcome)
                await self._recorder.finish(journal.interaction_id, self._clock.now(), outcome)
                if self._on_closed is not None:
                    await self._on_closed(journal.interaction_id, started)
        except Exception:
            log.exception("call %s: could not close the interaction record", journal.interaction_id)
        log.info("call %s ended: %s", journal.interaction_id, outcome)
