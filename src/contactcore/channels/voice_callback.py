"""The caller's side of a callback: the offer while waiting, the number, the confirmation.

While a caller waits, a key (announced on entry, and offered again whenever the
expected wait is over the queue's threshold) asks for a callback. The caller keeps
the number they call from or types another (validated for the configured region),
hears when to expect the call, and the call ends; the callback keeps their place
(``callback.service``). A caller who gives no usable number goes back to waiting in
the same place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from contactcore.callback.model import Callback
from contactcore.callback.rules import expected_minutes, should_offer
from contactcore.callback.service import CallbackService
from contactcore.core.telephony import CallContext, CallerHungUp, Verification
from contactcore.core.voice import Leg
from contactcore.errors import InvalidInput

log = logging.getLogger(__name__)

DTMF_KEYS = "0123456789*#"
KEEP_NUMBER, OTHER_NUMBER = "1", "2"


def spoken_digits(number: str) -> list[str]:
    """A number read out digit by digit, one sound per digit.

    Not ``digits:``: Asterisk does not stop a ``digits:`` playback when asked to (it
    says the rest), and a prompt the caller may cut short must stop at once.
    """
    return [f"sound:digits/{d}" for d in number if d.isdigit()]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """What the queue knows of the waiting call, for the callback's task."""

    queue: str
    enqueued_at: float
    priority: float
    skills: dict[str, int]
    ewt_s: float


class CallbackOffers:
    def __init__(
        self,
        service: CallbackService,
        offer_key: str = "*",
        prompt_prefix: str = "contactcore",
        tries: int = 3,
        choice_timeout_s: float = 6.0,
        first_digit_timeout_s: float = 8.0,
        inter_digit_timeout_s: float = 4.0,
    ) -> None:
        self.service = service
        self.offer_key = offer_key
        self._prefix = prompt_prefix
        self._tries = tries
        self._choice_timeout_s = choice_timeout_s
        self._first_s = first_digit_timeout_s
        self._inter_s = inter_digit_timeout_s

    def _p(self, name: str) -> str:
        return f"sound:{self._prefix}/{name}"

    def enabled(self, queue: str) -> bool:
        policy = self.service.policy(queue)
        return policy is not None and policy.enabled

    def offer_media(self, queue: str, ewt_s: float, first: bool) -> list[str]:
        """Said after the position: the key at entry; an active offer when the wait is long."""
        policy = self.service.policy(queue)
        if policy is None or not policy.enabled:
            return []
        if should_offer(ewt_s, policy):
            return [self._p("callback-offer-long-wait")]
        return [self._p("callback-offer")] if first else []

    async def listen(self, leg: Leg, requested: asyncio.Event) -> None:
        """Between announcements: set ``requested`` when the offer key is pressed."""
        while not requested.is_set():
            got = await leg.collect_digits(
                max_digits=1, first_digit_timeout=3600.0, inter_digit_timeout=1.0
            )
            if got.digits == self.offer_key:
                requested.set()

    async def last_offer(self, leg: Leg) -> bool:
        """At the queue's maximum wait: the offer once more; True when the key is pressed."""
        played = await leg.play([self._p("callback-offer-long-wait")], interrupt_keys=DTMF_KEYS)
        key = played.interrupted_by
        if key is None:
            got = await leg.collect_digits(
                max_digits=1, first_digit_timeout=self._choice_timeout_s, inter_digit_timeout=1.0
            )
            key = got.digits
        return key == self.offer_key

    async def _choice(self, leg: Leg, media: list[str], keys: str) -> str:
        played = await leg.play(media, interrupt_keys=DTMF_KEYS)
        key = played.interrupted_by
        if key is None:
            got = await leg.collect_digits(
                max_digits=1, first_digit_timeout=self._choice_timeout_s, inter_digit_timeout=1.0
            )
            key = got.digits
        return key if key in keys else ""

    async def _typed_number(self, leg: Leg) -> str | None:
        played = await leg.play([self._p("callback-enter-number")], interrupt_keys=DTMF_KEYS)
        first = played.interrupted_by or ""
        got = await leg.collect_digits(
            max_digits=16,
            first_digit_timeout=self._first_s,
            inter_digit_timeout=self._inter_s,
            finish_keys="#",
            initial="" if first == "#" else first,
        )
        try:
            return self.service.normalise(got.digits)
        except InvalidInput:
            await leg.play([self._p("callback-invalid-number")])
            return None

    async def _number(self, leg: Leg, ctx: CallContext) -> str | None:
        """The number to call: the caller's own (kept with 1) or one they type (2)."""
        number: str | None
        try:
            number = self.service.normalise(ctx.caller_number or leg.caller_number)
        except InvalidInput:
            number = None
        failures = changes = 0  # invalid or no input; "another number" asked for
        while failures < self._tries and changes < self._tries:
            if number is None:
                number = await self._typed_number(leg)
                failures += number is None
                continue
            media = [
                self._p("callback-number-is"),
                *spoken_digits(number),
                self._p("callback-keep-or-change"),
            ]
            key = await self._choice(leg, media, KEEP_NUMBER + OTHER_NUMBER)
            if key == KEEP_NUMBER:
                return number
            if key == OTHER_NUMBER:
                number = None
                changes += 1
            else:
                failures += 1
        return None

    async def take(self, leg: Leg, ctx: CallContext, request: CallbackRequest) -> Callback | None:
        """The dialog after the key; the callback, or None when no number was settled.

        The caller's task is out of the queue meanwhile (the caller of this method
        withdraws it and, on None, puts it back in its place).
        """
        number = await self._number(leg, ctx)
        if number is None:
            await leg.play([self._p("callback-not-taken")])
            return None
        customer = ctx.customer
        callback = await self.service.from_call(
            number=number,
            queue=request.queue,
            enqueued_at=request.enqueued_at,
            priority=request.priority,
            skills=request.skills,
            customer_id=customer.id if customer else None,
            tier=customer.tier if customer else None,
            verified=ctx.verification is Verification.VERIFIED,
            name=customer.name if customer else None,
            call_interaction_id=ctx.interaction_id,
        )
        media = [self._p("callback-confirm"), *spoken_digits(number)]
        minutes = expected_minutes(request.ewt_s)
        if minutes is not None:
            unit = "sound:queue-minute" if minutes == 1 else "sound:queue-minutes"
            media += [self._p("callback-in-about"), f"number:{minutes}", unit]
        media.append(self._p("callback-goodbye"))
        with contextlib.suppress(CallerHungUp):  # the callback stands without the rest
            await leg.play(media)
        log.info("call %s: callback %s on %s", ctx.interaction_id, callback.id, number)
        return callback
