"""The history consumer with fakes of its own ports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from contactcore.acd.history import run_history_consumer
from contactcore.core.events import DomainEvent
from contactcore.testing.acd_fakes import MemoryEventSink, MemoryEventSource


def _events(n: int) -> list[DomainEvent]:
    return [DomainEvent(type="task.enqueued", at=float(i), task_id=f"t{i}") for i in range(n)]


async def _run_until_drained(source: MemoryEventSource, sink: MemoryEventSink) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_history_consumer(source, sink, stop, batch=7, block_ms=1))
    while source.next_new < len(source.log) or source.pending:
        await asyncio.sleep(0.001)
        if task.done():
            break
    stop.set()
    await task


async def test_delivers_everything_in_batches_and_acknowledges() -> None:
    source = MemoryEventSource(_events(50))
    sink = MemoryEventSink()
    await _run_until_drained(source, sink)
    assert len(sink.events) == 50
    assert source.pending == {}
    assert sink.writes == 8  # ceil(50 / 7)


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.001)


async def test_a_failing_sink_delays_the_history_but_the_consumer_goes_on() -> None:
    source = MemoryEventSource(_events(50))
    sink = MemoryEventSink(fail_after=3)
    stop = asyncio.Event()
    task = asyncio.create_task(run_history_consumer(source, sink, stop, batch=7, block_ms=1))
    await _until(lambda: len(source.pending) == 7)  # read, not stored, not acknowledged
    await asyncio.sleep(0.05)
    assert not task.done()
    assert len(sink.events) == 21
    sink.fail_after = None  # the database is back
    await _until(lambda: not source.pending and source.next_new == len(source.log))
    stop.set()
    assert await task == 50
    assert sorted(sink.events) == sorted(e.id for _, e in source.log)


async def test_restart_after_a_crash_loses_nothing_and_duplicates_nothing() -> None:
    source = MemoryEventSource(_events(50))
    sink = MemoryEventSink(fail_after=3)
    stop = asyncio.Event()
    task = asyncio.create_task(run_history_consumer(source, sink, stop, batch=7, block_ms=1))
    await _until(lambda: len(source.pending) == 7)
    task.cancel()  # the process is killed while the batch is pending
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(sink.events) == 21
    sink.fail_after = None
    await _run_until_drained(source, sink)
    assert sorted(sink.events) == sorted(e.id for _, e in source.log)
    assert source.pending == {}
