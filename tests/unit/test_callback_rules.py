"""Callback rules: when to offer, numbers, windows and the retry policy."""

from __future__ import annotations

import pytest

from contactcore.callback.model import AttemptOutcome, CallbackPolicy, GiveUp, Retry
from contactcore.callback.rules import (
    after_failed_attempt,
    check_window,
    dial_failure,
    expected_minutes,
    normalise_number,
    should_offer,
)
from contactcore.errors import InvalidInput, Unprocessable

POLICY = CallbackPolicy(offer_above_ewt_s=120, max_attempts=3, retry_s=60)


@pytest.mark.parametrize(
    ("ewt", "offered"), [(30.0, False), (120.0, False), (121.0, True), (-1.0, True)]
)
def test_offered_when_the_expected_wait_is_over_the_threshold_or_unknown(
    ewt: float, offered: bool
) -> None:
    assert should_offer(ewt, POLICY) is offered


def test_a_queue_without_callbacks_never_offers() -> None:
    assert not should_offer(900.0, CallbackPolicy(enabled=False))


@pytest.mark.parametrize(("ewt", "minutes"), [(1.0, 1), (60.0, 1), (61.0, 2), (-1.0, None)])
def test_expected_minutes_are_whole_and_at_least_one(ewt: float, minutes: int | None) -> None:
    assert expected_minutes(ewt) == minutes


def test_numbers_are_validated_for_the_region() -> None:
    assert normalise_number("2025550143", "US") == "+12025550143"
    assert normalise_number("+1 202-555-0143", "US") == "+12025550143"
    assert normalise_number("020 7946 0018", "GB") == "+442079460018"
    for bad in ("", "12", "abc", "1111111111"):
        with pytest.raises(InvalidInput, match="number"):
            normalise_number(bad, "US")


def test_busy_is_told_apart_from_no_answer() -> None:
    assert dial_failure(17) is AttemptOutcome.BUSY
    assert dial_failure(19) is AttemptOutcome.NO_ANSWER
    assert dial_failure(None) is AttemptOutcome.NO_ANSWER


def test_retry_after_the_delay_until_the_last_attempt_then_give_up_with_the_reason() -> None:
    now = 1_800_000_000.0
    first = after_failed_attempt(1, AttemptOutcome.NO_ANSWER, POLICY, now)
    assert first == Retry(at=now + 60, reason="no-answer")
    second = after_failed_attempt(2, AttemptOutcome.BUSY, POLICY, now)
    assert second == Retry(at=now + 60, reason="busy")
    last = after_failed_attempt(3, AttemptOutcome.NO_KEY, POLICY, now)
    assert last == GiveUp("no-key after 3 attempt(s)")
    with pytest.raises(ValueError, match="connected"):
        after_failed_attempt(1, AttemptOutcome.CONNECTED, POLICY, now)


def test_windows_only_inside_business_hours() -> None:
    now = 1_800_000_000.0

    def hours(queue: str, at: float) -> bool:
        return at < now + 3600

    assert check_window("billing", now + 60, now + 600, now, hours) == now + 60
    # a window that has begun enters the queue now
    assert check_window("billing", now - 600, now + 600, now, hours) == now
    with pytest.raises(Unprocessable, match="outside its business hours"):
        check_window("billing", now + 7200, None, now, hours)
    with pytest.raises(Unprocessable, match="already over"):
        check_window("billing", now - 900, now - 60, now, hours)
    with pytest.raises(InvalidInput, match="window_end"):
        check_window("billing", now + 600, now + 60, now, hours)
