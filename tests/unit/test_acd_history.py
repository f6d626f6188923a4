"""The history consumer with fakes of its own ports."""

from __future__ import annotations

import asyncio

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


async def test_restart_after_a_crash_loses_nothing_and_duplicates_nothing() -> None:
    source = MemoryEventSource(_events(50))
    sink = MemoryEventSink(fail_after=3)
    stop = asyncio.Event()
    with pytest.raises(RuntimeError):
        await run_history_consumer(source, sink, stop, batch=7, block_ms=1)
    assert len(sink.events) == 21
    assert len(source.pending) == 7  # read, never stored, never acknowledged
    sink.fail_after = None
    await _run_until_drained(source, sink)
    assert sorted(sink.events) == sorted(e.id for _, e in source.log)
    assert source.pending == {}
