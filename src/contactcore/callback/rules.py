"""Pure decisions about callbacks: when to offer, numbers, windows, retries."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import phonenumbers

from contactcore.callback.model import AttemptOutcome, CallbackPolicy, GiveUp, Retry
from contactcore.errors import InvalidInput, Unprocessable

# Q.850 causes Asterisk reports when an originated channel does not answer.
CAUSE_USER_BUSY = 17


def should_offer(ewt_s: float, policy: CallbackPolicy) -> bool:
    """Offer actively when the estimated wait is over the queue's threshold.

    An unknown estimate (no agent serves the queue: -1) is a wait nobody can promise
    to be short, so it is offered too.
    """
    if not policy.enabled:
        return False
    return ewt_s < 0 or ewt_s > policy.offer_above_ewt_s


def expected_minutes(ewt_s: float) -> int | None:
    """Whole minutes to announce, at least 1; None when the wait cannot be estimated."""
    if ewt_s < 0:
        return None
    return max(1, math.ceil(ewt_s / 60.0))


def normalise_number(text: str | None, region: str) -> str:
    """The number in E.164 if it is a valid number for ``region`` (national or +CC form).

    Raises InvalidInput saying what is wrong, so the API can answer 400 naming the field.
    """
    if not text or not text.strip():
        raise InvalidInput("number: is empty; give a phone number such as +12025550143")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"number: '{text}' is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"number: '{text}' is not a valid number in region {region}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def dial_failure(cause: int | None) -> AttemptOutcome:
    """Why an originate to the customer did not answer, from the hang-up cause."""
    return AttemptOutcome.BUSY if cause == CAUSE_USER_BUSY else AttemptOutcome.NO_ANSWER


def after_failed_attempt(
    attempts_done: int, outcome: AttemptOutcome, policy: CallbackPolicy, now: float
) -> Retry | GiveUp:
    """Try again after the queue's delay until ``max_attempts`` attempts were made."""
    if outcome is AttemptOutcome.CONNECTED:
        raise ValueError("a connected callback is done, not retried")
    reason = str(outcome)
    if attempts_done >= policy.max_attempts:
        return GiveUp(f"{reason} after {attempts_done} attempt(s)")
    return Retry(at=now + policy.retry_s, reason=reason)


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_window(
    queue: str,
    window_start: float,
    window_end: float | None,
    now: float,
    is_open: Callable[[str, float], bool],
) -> float:
    """The time the callback enters the queue: the window's start (now, if it has begun).

    Refused (Unprocessable, answered 422) when the window is over or when the queue is
    closed at that moment: a callback must reach an agent who is there.
    """
    if window_end is not None and window_end <= window_start:
        raise InvalidInput("window_end: must be later than window_start")
    if window_end is not None and window_end <= now:
        raise Unprocessable(f"window_end: {_utc(window_end)} is already over; choose a later one")
    start = max(window_start, now)
    if not is_open(queue, start):
        raise Unprocessable(
            f"window_start: queue {queue} is outside its business hours at {_utc(start)}; "
            "choose a time when the queue is open"
        )
    return start
