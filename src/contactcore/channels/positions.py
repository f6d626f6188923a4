"""Queue positions for the announcements of waiting calls, sharing reads of the live state.

Why: the routing engine answers "where is this task?" only from a snapshot of the
whole live state (every queue, agent and waiting task). Read once per announcement,
100 callers entering at once meant 100 full reads, each growing with the number of
callers, all on the event loop every call shares. Lookups now share snapshots:

- a snapshot taken less than ``max_age_s`` ago that already holds the task answers at
  once (the periodic announcements of callers who are waiting anyway);
- otherwise the lookup needs a read that started after it was asked (a task queued a
  moment ago must be in it): it shares the read in flight if that one started after
  the question, or else the single read queued behind it, which every lookup arriving
  meanwhile shares.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from contactcore.acd.model import QueueStats, TaskPosition


@dataclass(frozen=True)
class _Snapshot:
    started: float  # loop time at which the read began
    positions: dict[tuple[str, str], TaskPosition]

    def find(self, queue: str, task_id: str) -> TaskPosition | None:
        return self.positions.get((queue, task_id))


class QueuePositions:
    def __init__(
        self, read: Callable[[], Awaitable[Sequence[QueueStats]]], *, max_age_s: float = 1.0
    ) -> None:
        self._read_live = read
        self._max_age_s = max_age_s
        self._latest: _Snapshot | None = None
        self._current: asyncio.Future[_Snapshot] | None = None
        self._current_started = 0.0
        self._queued: asyncio.Future[_Snapshot] | None = None
        self.reads = 0

    async def lookup(self, queue: str, task_id: str) -> TaskPosition | None:
        """The task's position and expected wait in ``queue``; None if it is not waiting."""
        asked = asyncio.get_running_loop().time()
        latest = self._latest
        if latest is not None and latest.started >= asked - self._max_age_s:
            found = latest.find(queue, task_id)
            if found is not None:
                return found
        snapshot = await asyncio.shield(self._read_started_after(asked))
        return snapshot.find(queue, task_id)

    def _read_started_after(self, asked: float) -> asyncio.Future[_Snapshot]:
        if self._current is None:
            return self._start()
        if self._current_started >= asked:
            return self._current
        if self._queued is None:
            self._queued = asyncio.ensure_future(self._after(self._current))
        return self._queued

    async def _after(self, current: asyncio.Future[_Snapshot]) -> _Snapshot:
        with contextlib.suppress(Exception):  # its own waiters get its error
            await current
        self._queued = None
        return await self._start()

    def _start(self) -> asyncio.Future[_Snapshot]:
        started = asyncio.get_running_loop().time()
        read = asyncio.ensure_future(self._read(started))
        self._current, self._current_started = read, started
        read.add_done_callback(self._read_done)
        return read

    def _read_done(self, read: asyncio.Future[_Snapshot]) -> None:
        if self._current is read:
            self._current = None
        if not read.cancelled() and read.exception() is None:
            snapshot = read.result()
            if self._latest is None or snapshot.started >= self._latest.started:
                self._latest = snapshot

    async def _read(self, started: float) -> _Snapshot:
        self.reads += 1
        stats = await self._read_live()
        positions = {(s.queue_id, t.task_id): t for s in stats for t in s.tasks}
        return _Snapshot(started, positions)
