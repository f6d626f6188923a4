"""Timeline events written in batches by one background task, off the calls' path.

Why: every key press, flow node and queue step of a call is a timeline event. Written
one transaction each, awaited before the call went on, they put several SQL round
trips between a caller's key and the next prompt; with 100 calls at once (SQLite: one
write lock for all of them) that was hundreds of milliseconds. Here ``add_event``
only queues the event; a writer task stores whatever has queued up in one
transaction per batch.

Nothing is dropped on purpose:

- a batch that fails because the database is unavailable is retried, with backoff,
  until it is written; events keep their order;
- ``finish`` (an interaction's end) and ``close`` (shutdown) first wait until
  everything queued before them is stored, so a closed interaction has its whole
  timeline;
- the queue is bounded: when it is full (the database has been down for a while),
  ``add_event`` waits for room instead of discarding;
- an event the database refuses for a reason other than availability (it can never
  be stored) is written to the log in full, as an error, with its batch split so
  that its neighbours are still stored.

What a hard crash (SIGKILL) can lose is what was queued since the last write: the
time of one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from contactcore.core.events import DomainEvent
from contactcore.core.ports import InteractionRecorder
from contactcore.errors import DependencyUnavailable

log = logging.getLogger(__name__)


class TimelineStore(InteractionRecorder, Protocol):
    """Where interactions and their events are stored (``InteractionRepository``)."""

    async def add_events(self, events: Sequence[DomainEvent]) -> None: ...


class BufferedTimeline:
    """The ``InteractionRecorder`` port with batched, non-blocking event writes."""

    def __init__(
        self,
        store: TimelineStore,
        *,
        max_batch: int = 500,
        max_queued: int = 50_000,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._queue: deque[DomainEvent] = deque()
        self._queued = 0  # events ever queued
        self._stored = 0  # events ever handled (stored, or logged as refused)
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.refused = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start_writer(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="timeline-writer")
            self._task.add_done_callback(self._writer_ended)

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "timeline writer stopped; %d event(s) wait unwritten",
                self.pending,
                exc_info=task.exception(),
            )

    async def close(self, timeout: float = 10.0) -> None:
        """Store everything queued, then stop the writer (bounded by ``timeout``)."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self.flush()
        except TimeoutError:
            for event in self._queue:
                log.error("timeline event not stored at shutdown: %s", _describe(event))
            log.error(
                "%d timeline event(s) could not be stored within %.0fs", self.pending, timeout
            )
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    # -- the InteractionRecorder port ----------------------------------------
    async def start(
        self,
        interaction_id: str,
        channel: str,
        started_at: float,
        caller: str | None = None,
        called: str | None = None,
    ) -> None:
        await self._store.start(interaction_id, channel, started_at, caller=caller, called=called)

    async def add_event(self, event: DomainEvent) -> None:
        if len(self._queue) >= self._max_queued:
            log.warning("timeline writer behind by %d events; waiting for room", self.pending)
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._queue) < self._max_queued)
        self._queue.append(event)
        self._queued += 1
        self._wake.set()

    async def finish(self, interaction_id: str, ended_at: float, outcome: str) -> None:
        await self.flush()
        await self._store.finish(interaction_id, ended_at, outcome)

    async def flush(self) -> None:
        """Return once every event queued before this call is stored."""
        if self._task is None:
            raise RuntimeError("timeline writer not started (call start_writer first)")
        target = self._queued
        async with self._changed:
            await self._changed.wait_for(lambda: self._stored >= target)

    # -- the writer -----------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue[i] for i in range(min(self._max_batch, len(self._queue)))]
                await self._write(batch)
                for _ in batch:
                    self._queue.popleft()
                self._stored += len(batch)
                self.batches += 1
                async with self._changed:
                    self._changed.notify_all()

    async def _write(self, batch: list[DomainEvent]) -> None:
        """Store ``batch``; retries while the database is unavailable."""
        delay = self._retry_initial
        while True:
            try:
                await self._store.add_events(batch)
                return
            except DependencyUnavailable as exc:
                log.warning(
                    "timeline: %d event(s) wait for the database (%s); retry in %.1fs",
                    len(batch),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
            except Exception:
                if len(batch) == 1:
                    self.refused += 1
                    log.exception("timeline event refused by the database: %s", _describe(batch[0]))
                    return
                # Find the event that cannot be stored; store the others.
                for event in batch:
                    await self._write([event])
                return


def _describe(event: DomainEvent) -> str:
    """The whole event for the log, even one whose payload is not JSON."""
    try:
        return event.model_dump_json()
    except ValueError:
        return repr(event)
