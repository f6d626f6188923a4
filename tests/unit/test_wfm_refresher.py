"""IntervalRefresher: planning intervals rebuilt as work completes, without a rebuild per call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from contactcore.wfm.service import IntervalRefresher

STEP = 900


class Rebuilds:
    def __init__(self, fail: int = 0) -> None:
        self.done: list[tuple[float, float]] = []
        self.fail = fail

    async def __call__(self, start: float, end: float) -> object:
        await asyncio.sleep(0.01)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database unavailable")
        self.done.append((start, end))
        return 1


@contextlib.asynccontextmanager
async def running(rebuilds: Rebuilds, min_gap_s: float) -> AsyncIterator[IntervalRefresher]:
    """A refresher whose loop runs for the block and is stopped (and finishes) after it."""
    refresher = IntervalRefresher(rebuilds, STEP, min_gap_s=min_gap_s)
    stop = asyncio.Event()
    task = asyncio.create_task(refresher.run(stop))
    try:
        yield refresher
    finally:
        stop.set()
        await asyncio.wait_for(task, 1.0)


async def test_a_single_call_is_counted_at_once() -> None:
    rebuilds = Rebuilds()
    async with running(rebuilds, min_gap_s=5.0) as refresher:
        refresher.mark(1000.0)
        await asyncio.sleep(0.05)
        assert rebuilds.done == [(900.0, 1800.0)]


async def test_a_burst_of_calls_costs_a_few_rebuilds_not_one_each() -> None:
    rebuilds = Rebuilds()
    async with running(rebuilds, min_gap_s=0.1) as refresher:
        for i in range(100):
            refresher.mark(1000.0 + i)
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.3)
    assert set(rebuilds.done) == {(900.0, 1800.0)}
    assert 1 <= len(rebuilds.done) <= 5, rebuilds.done


async def test_what_is_marked_when_stopping_is_still_rebuilt() -> None:
    rebuilds = Rebuilds()
    async with running(rebuilds, min_gap_s=10.0) as refresher:
        refresher.mark(100.0)
        await asyncio.sleep(0.05)  # first rebuild done; now inside the 10 s gap
        refresher.mark(2000.0)
    assert rebuilds.done == [(0.0, 900.0), (1800.0, 2700.0)]


async def test_a_failed_rebuild_is_retried() -> None:
    rebuilds = Rebuilds(fail=1)
    async with running(rebuilds, min_gap_s=0.05) as refresher:
        refresher.mark(100.0)
        await asyncio.sleep(0.3)
    assert rebuilds.done == [(0.0, 900.0)]
