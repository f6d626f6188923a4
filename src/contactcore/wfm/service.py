"""Use cases of workforce planning, glued through the ports.

The web layer needs only :meth:`WfmService.staffing` and :meth:`StaffingPlan.to_data`
(plain data) or :meth:`StaffingPlan.svg`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from contactcore.core.wfm import HistorySource, InteractionSummary, IntervalStat, IntervalStore
from contactcore.errors import InvalidInput, NotFound
from contactcore.wfm import intervals
from contactcore.wfm.chart import staffing_svg
from contactcore.wfm.forecast import Forecast, Series, forecast, series_from_points
from contactcore.wfm.staffing import StaffingResult, StaffingTargets, staff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WfmConfig:
    interval_seconds: int = 900
    country: str | None = "US"
    threshold_seconds: float = 20.0  # for "answered within service level" in the statistics
    history_days: int = 70


def _epoch(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class StaffingPlan:
    queue_id: str
    channel: str | None
    forecast: Forecast
    targets: StaffingTargets
    result: StaffingResult

    def to_data(self) -> dict[str, Any]:
        t = self.targets
        rows = []
        for i, st in enumerate(self.forecast.starts()):
            rows.append({"start": st.isoformat(), **self.result.row(i)})
        return {
            "queue_id": self.queue_id,
            "channel": self.channel,
            "interval_seconds": self.forecast.interval_seconds,
            "forecast_model": self.forecast.model,
            "staffing_model": t.model,
            "targets": {
                "target_sl": t.target_sl,
                "threshold_seconds": t.threshold_seconds,
                "max_occupancy": t.max_occupancy,
                "shrinkage": str(t.shrinkage),
                "patience_seconds": t.patience_seconds,
                "max_abandon": t.max_abandon,
                "concurrency": t.concurrency,
                "deadline_seconds": t.deadline_seconds,
            },
            "intervals": rows,
        }

    def svg(self) -> str:
        return staffing_svg(
            self.forecast.starts(),
            [float(v) for v in self.result.volume],
            [int(a) for a in self.result.agents_after_shrinkage],
            title=f"{self.queue_id}: forecast volume and agents required",
        )


class WfmService:
    def __init__(
        self, store: IntervalStore, history: HistorySource | None, config: WfmConfig
    ) -> None:
        intervals.check_interval(config.interval_seconds)
        self._store = store
        self._history = history
        self._config = config

    async def rebuild(self, start: float, end: float, queue_id: str | None = None) -> int:
        """Recompute the statistics of ``[start, end)`` from the interaction history."""
        if self._history is None:
            raise InvalidInput("no interaction history is configured to rebuild from")
        step = self._config.interval_seconds
        start = intervals.interval_start(start, step)
        items = [s async for s in self._history.summaries(start, end, queue_id)]
        rows = intervals.compute(items, step, self._config.threshold_seconds)
        # Queue by queue, so that a queue whose history was imported from another system
        # (it has no interactions here) keeps its statistics.
        queues = {queue_id} if queue_id is not None else {s.queue_id for s in items}
        for q in sorted(queues):
            await self._store.replace(start, end, [r for r in rows if r.queue_id == q], q)
        log.info(
            "wfm rebuild: %s interactions -> %s intervals (queue %s)",
            len(items),
            len(rows),
            queue_id,
        )
        return len(rows)

    async def record(self, summary: InteractionSummary) -> None:
        """Keep statistics up to date as one piece of work completes."""
        row = intervals.delta(
            summary, self._config.interval_seconds, self._config.threshold_seconds
        )
        await self._store.add([row])

    async def import_series(self, queue_id: str, channel: str, series: Series) -> int:
        """Store an exported history (counts, optional AHT) as the intervals of a queue."""
        origin = _epoch(series.first_day)
        rows: list[IntervalStat] = []
        for i, v in enumerate(series.volume):
            if v <= 0:
                continue
            count = round(float(v))
            aht = float(series.aht[i]) if series.aht is not None else math.nan
            rows.append(
                IntervalStat(
                    queue_id=queue_id,
                    channel=channel,
                    start=origin + i * series.interval_seconds,
                    seconds=series.interval_seconds,
                    offered=count,
                    answered=count,
                    handle_seconds=count * aht if math.isfinite(aht) else 0.0,
                )
            )
        end = origin + series.volume.shape[0] * series.interval_seconds
        await self._store.replace(origin, end, rows, queue_id)
        return len(rows)

    async def history(
        self, queue_id: str, until: date | None = None, channel: str | None = None
    ) -> tuple[Series, list[IntervalStat]]:
        end = _epoch(until) if until else math.inf
        rows = await self._store.load(queue_id, 0.0, end, channel)
        if not rows:
            raise NotFound(f"no interval statistics for queue {queue_id!r}")
        last = datetime.fromtimestamp(rows[-1].start, UTC).date() + timedelta(days=1)
        first = last - timedelta(days=self._config.history_days)
        rows = [r for r in rows if r.start >= _epoch(first)]
        return series_from_rows(rows), rows

    async def forecast(
        self, queue_id: str, first_day: date | None, days: int, channel: str | None = None
    ) -> Forecast:
        series, _ = await self.history(queue_id, first_day, channel)
        return _forecast_from(series, first_day, days, self._config.country)

    async def staffing(
        self,
        queue_id: str,
        first_day: date | None,
        days: int,
        targets: StaffingTargets,
        channel: str | None = None,
    ) -> StaffingPlan:
        series, rows = await self.history(queue_id, first_day, channel)
        if targets.model == "a" and targets.patience_seconds is None:
            patience = intervals.estimate_patience(rows)
            if patience is None:
                raise InvalidInput(
                    f"queue {queue_id!r} has no abandonment to estimate patience from; "
                    "give the patience in seconds"
                )
            targets = replace(targets, patience_seconds=patience)
        fc = _forecast_from(series, first_day, days, self._config.country)
        result = staff(fc.volume, fc.aht, fc.interval_seconds, targets)
        return StaffingPlan(queue_id, channel, fc, targets, result)


def series_from_rows(rows: Sequence[IntervalStat]) -> Series:
    seconds = {r.seconds for r in rows}
    if len(seconds) != 1:
        raise InvalidInput(f"mixed interval lengths in the history: {sorted(seconds)}")
    merged: dict[float, IntervalStat] = {}
    for r in rows:
        old = merged.get(r.start)
        merged[r.start] = r if old is None else intervals.merge([old, r])
    points = [
        (datetime.fromtimestamp(st, UTC), float(r.offered), r.aht_seconds)
        for st, r in sorted(merged.items())
    ]
    if len(points) == 1:
        raise InvalidInput("need more than one interval of history")
    return series_from_points(points)


def _forecast_from(
    series: Series, first_day: date | None, days: int, country: str | None
) -> Forecast:
    next_day = series.first_day + timedelta(days=series.days)
    start = first_day or next_day
    gap = (start - next_day).days
    if gap < 0:
        raise InvalidInput(f"the forecast must start after the history (from {next_day})")
    fc = forecast(series, gap + days, country)
    n = gap * series.per_day
    aht = fc.aht[n:]
    if np.all(np.isnan(aht)):
        raise InvalidInput("the history has no handle times; import it with an AHT column")
    return Forecast(start, fc.interval_seconds, fc.volume[n:], aht, fc.model)


async def seed_demo_history(
    store: IntervalStore,
    queue_ids: Sequence[str],
    today: date,
    *,
    days: int = 56,
    interval_seconds: int = 900,
    country: str | None = "US",
    seed: int = 7,
) -> int:
    """Generated history for the queues that have no statistics yet (safe to repeat).

    Lets a fresh demo show real-looking forecasts and staffing; returns intervals written.
    """
    from contactcore.wfm.generator import DemoQueue, generate

    have = {q for q, _ in await store.queues()}
    first = today - timedelta(days=days)
    written = 0
    for i, queue_id in enumerate(queue_ids):
        if queue_id in have:
            continue
        demo = DemoQueue(queue_id, daily_volume=400.0 * (1 + i), aht_seconds=200.0 + 40 * i)
        items = generate(
            [demo],
            first,
            days,
            country=country or "US",
            seed=seed + i,
            interval_seconds=interval_seconds,
        )
        rows = intervals.compute(items, interval_seconds, 20.0)
        await store.replace(_epoch(first), _epoch(today), rows, queue_id)
        written += len(rows)
    return written


class IntervalRefresher:
    """Keeps planning intervals up to date as work completes, coalescing rebuilds.

    Why: rebuilding an interval reads every interaction in it. Doing that at the end of
    every call and every wrap-up costs O(calls^2) per interval and, under load, stalls
    the event loop every call shares (100 calls: 135 rebuilds, stalls of ~100 ms).
    The first interval marked after a quiet spell is rebuilt at once (statistics stay
    current for a single call); marks that arrive meanwhile are gathered and rebuilt
    together, at most once per ``min_gap_s``. On stop, what is still marked is rebuilt.
    """

    def __init__(
        self,
        rebuild: Callable[[float, float], Awaitable[object]],
        step: int,
        *,
        min_gap_s: float = 1.0,
    ) -> None:
        self._rebuild = rebuild
        self._step = step
        self._min_gap_s = min_gap_s
        self._dirty: set[float] = set()
        self._wake = asyncio.Event()
        self.rebuilds = 0

    def mark(self, at: float) -> None:
        """The interval holding time ``at`` has new completed work."""
        self._dirty.add(at - at % self._step)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({woken, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woken.cancel()
                self._wake.clear()
                await self._rebuild_marked()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), self._min_gap_s)
            await self._rebuild_marked()
        finally:
            stopping.cancel()

    async def _rebuild_marked(self) -> None:
        marked, self._dirty = sorted(self._dirty), set()
        for start in marked:
            try:
                await self._rebuild(start, start + self._step)
                self.rebuilds += 1
            except Exception:
                log.exception("planning interval %s could not be rebuilt; will retry", start)
                self.mark(start)
