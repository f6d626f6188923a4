"""Interval statistics and interaction history in CSV files.

The store of the command line until the SQL store exists, and the exchange format of
``wfm generate``: a planner can open both files in a spreadsheet. Whole-file reads and
writes: fine for the months of history planning uses, not for a live system.
"""

from __future__ import annotations

import csv
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import fields
from pathlib import Path

from contactcore.core.wfm import InteractionSummary, IntervalStat
from contactcore.errors import InvalidInput
from contactcore.wfm.memory import MemoryIntervalStore

STAT_FIELDS = [f.name for f in fields(IntervalStat)]
SUMMARY_FIELDS = [f.name for f in fields(InteractionSummary)]


def _opt(value: str) -> float | None:
    return float(value) if value not in ("", "None") else None


class CsvIntervalStore(MemoryIntervalStore):
    """A :class:`MemoryIntervalStore` loaded from and saved to one CSV file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            with path.open(newline="") as fh:
                for rec in csv.DictReader(fh):
                    row = IntervalStat(
                        queue_id=rec["queue_id"],
                        channel=rec["channel"],
                        start=float(rec["start"]),
                        seconds=int(rec["seconds"]),
                        offered=int(rec["offered"]),
                        answered=int(rec["answered"]),
                        abandoned=int(rec["abandoned"]),
                        answered_in_sl=int(rec["answered_in_sl"]),
                        handle_seconds=float(rec["handle_seconds"]),
                        answer_wait_seconds=float(rec["answer_wait_seconds"]),
                        abandon_wait_seconds=float(rec["abandon_wait_seconds"]),
                        backlog=int(rec["backlog"]),
                    )
                    self.rows[(row.queue_id, row.channel, row.start)] = row

    async def replace(
        self, start: float, end: float, stats: Sequence[IntervalStat], queue_id: str | None = None
    ) -> None:
        await super().replace(start, end, stats, queue_id)
        self._save()

    async def add(self, stats: Sequence[IntervalStat]) -> None:
        await super().add(stats)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(STAT_FIELDS)
            for key in sorted(self.rows):
                r = self.rows[key]
                w.writerow([getattr(r, name) for name in STAT_FIELDS])
        os.replace(tmp, self.path)


def write_summaries(path: Path, items: Iterable[InteractionSummary]) -> int:
    n = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUMMARY_FIELDS)
        for s in items:
            w.writerow(["" if (v := getattr(s, name)) is None else v for name in SUMMARY_FIELDS])
            n += 1
    return n


def read_summaries(path: Path) -> list[InteractionSummary]:
    out = []
    try:
        with path.open(newline="") as fh:
            for rec in csv.DictReader(fh):
                out.append(
                    InteractionSummary(
                        queue_id=rec["queue_id"],
                        channel=rec["channel"],
                        offered_at=float(rec["offered_at"]),
                        answered_at=_opt(rec["answered_at"]),
                        abandoned_at=_opt(rec["abandoned_at"]),
                        talk_seconds=float(rec["talk_seconds"] or 0),
                        hold_seconds=float(rec["hold_seconds"] or 0),
                        wrap_seconds=float(rec["wrap_seconds"] or 0),
                    )
                )
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"{path}: not an interaction file ({exc})") from exc
    return out


class CsvHistory:
    """A history source over a file written by :func:`write_summaries`."""

    def __init__(self, path: Path) -> None:
        self._items = read_summaries(path)

    async def summaries(
        self, start: float, end: float, queue_id: str | None = None
    ) -> AsyncIterator[InteractionSummary]:
        for s in self._items:
            if start <= s.offered_at < end and (queue_id is None or s.queue_id == queue_id):
                yield s

    def span(self) -> tuple[float, float]:
        if not self._items:
            return (0.0, 0.0)
        return (min(s.offered_at for s in self._items), max(s.offered_at for s in self._items) + 1)
