"""In-memory implementations of the ports, for tests and for CSV-driven runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence

from contactcore.core.wfm import InteractionSummary, IntervalStat
from contactcore.wfm.intervals import merge


class MemoryHistory:
    def __init__(self, summaries: Iterable[InteractionSummary] = ()) -> None:
        self.items = list(summaries)

    async def summaries(
        self, start: float, end: float, queue_id: str | None = None
    ) -> AsyncIterator[InteractionSummary]:
        for s in self.items:
            if start <= s.offered_at < end and (queue_id is None or s.queue_id == queue_id):
                yield s


class MemoryIntervalStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, float], IntervalStat] = {}

    async def replace(
        self, start: float, end: float, stats: Sequence[IntervalStat], queue_id: str | None = None
    ) -> None:
        for key in [
            k for k in self.rows if start <= k[2] < end and (queue_id is None or k[0] == queue_id)
        ]:
            del self.rows[key]
        for r in stats:
            self.rows[(r.queue_id, r.channel, r.start)] = r

    async def add(self, stats: Sequence[IntervalStat]) -> None:
        for r in stats:
            key = (r.queue_id, r.channel, r.start)
            old = self.rows.get(key)
            self.rows[key] = r if old is None else merge([old, r])

    async def load(
        self, queue_id: str, start: float, end: float, channel: str | None = None
    ) -> list[IntervalStat]:
        out = [
            r
            for (q, c, st), r in self.rows.items()
            if q == queue_id and start <= st < end and (channel is None or c == channel)
        ]
        return sorted(out, key=lambda r: (r.start, r.channel))

    async def queues(self) -> list[tuple[str, str]]:
        return sorted({(q, c) for q, c, _ in self.rows})
