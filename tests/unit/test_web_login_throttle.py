"""The failed-login throttle: exponential delays, a cap, separate allowances, forgetting."""

from __future__ import annotations

from contactcore.testing.acd_fakes import ManualClock
from contactcore.web.auth import LoginThrottle


def test_delay_doubles_after_the_free_failures_up_to_the_cap() -> None:
    clock = ManualClock()
    t = LoginThrottle(clock, free=3, max_delay_s=8.0)
    keys = ["user:bob"]
    delays = []
    for _ in range(8):
        t.failed(keys)
        delays.append(t.retry_after(keys))
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    clock.advance(8.0)
    assert t.retry_after(keys) == 0.0


def test_addresses_get_a_larger_allowance_than_usernames() -> None:
    t = LoginThrottle(ManualClock(), free=3, free_per_address=5)
    for _ in range(3):
        t.failed(["user:a", "addr:10.0.0.1"])
    assert t.retry_after(["user:a"]) > 0
    assert t.retry_after(["addr:10.0.0.1"]) == 0
    assert t.retry_after(["user:b", "addr:10.0.0.1"]) == 0


def test_success_forgives_and_old_failures_are_forgotten() -> None:
    clock = ManualClock()
    t = LoginThrottle(clock, free=2, forget_after_s=60)
    t.failed(["user:a"])
    t.succeeded(["user:a"])
    t.failed(["user:a"])
    assert t.retry_after(["user:a"]) == 0  # one failure since the success
    clock.advance(61)
    t.failed(["user:a"])
    assert t.retry_after(["user:a"]) == 0  # the earlier one was forgotten
