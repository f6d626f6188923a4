"""Records and ports of workforce planning, shared by ``wfm`` and the SQL adapter.

They live in ``core`` because the adapter that stores them may not import ``wfm``.
Times are epoch seconds (UTC) like every other record in ``core``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InteractionSummary:
    """What planning needs of one finished (or abandoned) piece of work."""

    queue_id: str
    channel: str  # "voice", "chat", "email", ...
    offered_at: float
    answered_at: float | None = None
    abandoned_at: float | None = None
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    wrap_seconds: float = 0.0

    @property
    def handle_seconds(self) -> float:
        return self.talk_seconds + self.hold_seconds + self.wrap_seconds


@dataclass(frozen=True, slots=True)
class IntervalStat:
    """Counters of one queue, channel and interval, by the interval the work was offered in.

    Totals rather than averages, so that increments add up and averages stay exact.
    """

    queue_id: str
    channel: str
    start: float  # epoch seconds of the interval start
    seconds: int  # interval length
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_in_sl: int = 0
    handle_seconds: float = 0.0  # talk + hold + wrap-up of answered work
    answer_wait_seconds: float = 0.0  # time in queue of answered work
    abandon_wait_seconds: float = 0.0  # time in queue of abandoned work
    backlog: int = 0  # digital: work offered by the end and not yet answered nor abandoned

    @property
    def aht_seconds(self) -> float | None:
        return self.handle_seconds / self.answered if self.answered else None

    @property
    def average_time_to_abandon(self) -> float | None:
        return self.abandon_wait_seconds / self.abandoned if self.abandoned else None


class HistorySource(Protocol):
    """Finished interactions offered in ``[start, end)``, optionally of one queue."""

    def summaries(
        self, start: float, end: float, queue_id: str | None = None
    ) -> AsyncIterator[InteractionSummary]: ...


class IntervalStore(Protocol):
    """Where interval statistics are kept (SQL in production)."""

    async def replace(
        self, start: float, end: float, stats: Sequence[IntervalStat], queue_id: str | None = None
    ) -> None:
        """Delete the intervals starting in ``[start, end)`` (of one queue) and write ``stats``."""

    async def add(self, stats: Sequence[IntervalStat]) -> None:
        """Add the counters to existing rows (same queue, channel, start), creating missing ones.

        ``backlog`` is a level, not a counter: the stored value is replaced.
        """

    async def load(
        self, queue_id: str, start: float, end: float, channel: str | None = None
    ) -> list[IntervalStat]:
        """Rows of one queue with ``start <= row.start < end``, ordered by start."""

    async def queues(self) -> list[tuple[str, str]]:
        """Every (queue_id, channel) with stored rows."""
