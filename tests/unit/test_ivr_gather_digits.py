"""The shared DTMF collection rule, against a plain statement of it."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactcore.core.telephony import CallerHungUp, CollectEnd, DigitsResult, gather_digits


def expected(keys: str, max_digits: int, finish: str, initial: str) -> DigitsResult:
    digits = initial
    if len(digits) >= max_digits:
        return DigitsResult(digits=digits, ended=CollectEnd.MAX_LENGTH)
    for key in keys:
        if key in finish:
            return DigitsResult(digits=digits, ended=CollectEnd.FINISH_KEY)
        digits += key
        if len(digits) >= max_digits:
            return DigitsResult(digits=digits, ended=CollectEnd.MAX_LENGTH)
    ended = CollectEnd.TIMEOUT if digits else CollectEnd.NO_INPUT
    return DigitsResult(digits=digits, ended=ended)


async def gather(keys: str, max_digits: int, finish: str, initial: str) -> DigitsResult:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for key in keys:
        queue.put_nowait(key)
    return await gather_digits(
        queue,
        max_digits=max_digits,
        first_digit_timeout=0.002,
        inter_digit_timeout=0.002,
        finish_keys=finish,
        initial=initial,
    )


@settings(max_examples=60, deadline=None)
@given(
    keys=st.text(alphabet="0123456789*#", max_size=12),
    max_digits=st.integers(min_value=1, max_value=8),
    finish=st.sampled_from(["", "#", "*#"]),
    initial=st.text(alphabet="0123456789", max_size=2),
)
def test_gather_digits_follows_the_rule(
    keys: str, max_digits: int, finish: str, initial: str
) -> None:
    got = asyncio.run(gather(keys, max_digits, finish, initial))
    assert got == expected(keys, max_digits, finish, initial)
    assert len(got.digits) <= max(max_digits, len(initial))
    assert not any(k in finish for k in got.digits[len(initial) :])


async def test_first_digit_and_inter_digit_timeouts_differ() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, queue.put_nowait, "1")  # inside the 2 s first-digit timeout
    loop.call_later(1.0, queue.put_nowait, "2")  # long after the 0.1 s inter-digit timeout
    start = loop.time()
    got = await gather_digits(queue, max_digits=4, first_digit_timeout=2.0, inter_digit_timeout=0.1)
    assert got == DigitsResult(digits="1", ended=CollectEnd.TIMEOUT)
    assert 0.15 <= loop.time() - start < 0.9


async def test_hang_up_while_collecting() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    queue.put_nowait("1")
    queue.put_nowait(None)
    with pytest.raises(CallerHungUp):
        await gather_digits(queue, max_digits=4, first_digit_timeout=1, inter_digit_timeout=1)
