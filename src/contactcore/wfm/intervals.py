"""Interval statistics from interaction summaries.

Everything is counted in the interval the work was *offered* in, so that volume,
handle time and service level of one interval describe the same arrivals, which is what
forecasting and staffing need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from contactcore.core.wfm import InteractionSummary, IntervalStat
from contactcore.errors import InvalidInput

DIGITAL_CHANNELS = frozenset({"chat", "email", "message", "social", "task"})


def interval_start(at: float, interval_seconds: int) -> float:
    return float(math.floor(at / interval_seconds) * interval_seconds)


@dataclass
class _Acc:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    in_sl: int = 0
    handle: float = 0.0
    answer_wait: float = 0.0
    abandon_wait: float = 0.0
    offered_times: list[float] = field(default_factory=list)
    closed_times: list[float] = field(default_factory=list)


def check_interval(interval_seconds: int) -> None:
    if interval_seconds <= 0 or 86400 % interval_seconds:
        raise InvalidInput(
            f"interval must divide a day evenly (e.g. 900 or 1800 s), got {interval_seconds}"
        )


def delta(
    summary: InteractionSummary, interval_seconds: int, threshold_seconds: float
) -> IntervalStat:
    """The counters one interaction adds to its interval (for keeping stats up to date)."""
    return compute([summary], interval_seconds, threshold_seconds, with_backlog=False)[0]


def compute(
    summaries: Iterable[InteractionSummary],
    interval_seconds: int,
    threshold_seconds: float,
    *,
    with_backlog: bool = True,
) -> list[IntervalStat]:
    """Interval statistics of every (queue, channel, interval) that had offered work.

    Backlog (digital channels) is the number of items offered by the end of the interval
    and neither answered nor abandoned by then; it is computed over the summaries given,
    so pass the whole history of the period.
    """
    check_interval(interval_seconds)
    acc: dict[tuple[str, str, float], _Acc] = {}
    per_queue: dict[tuple[str, str], _Acc] = {}
    for s in summaries:
        key = (s.queue_id, s.channel, interval_start(s.offered_at, interval_seconds))
        a = acc.get(key)
        if a is None:
            a = acc[key] = _Acc()
        a.offered += 1
        if s.answered_at is not None:
            wait = max(0.0, s.answered_at - s.offered_at)
            a.answered += 1
            a.handle += s.handle_seconds
            a.answer_wait += wait
            if wait <= threshold_seconds:
                a.in_sl += 1
        elif s.abandoned_at is not None:
            a.abandoned += 1
            a.abandon_wait += max(0.0, s.abandoned_at - s.offered_at)
        if with_backlog and s.channel in DIGITAL_CHANNELS:
            q = per_queue.setdefault((s.queue_id, s.channel), _Acc())
            q.offered_times.append(s.offered_at)
            closed = s.answered_at if s.answered_at is not None else s.abandoned_at
            q.closed_times.append(math.inf if closed is None else closed)
    backlog: dict[tuple[str, str, float], int] = {}
    for (queue, channel), q in per_queue.items():
        offered_sorted = np.sort(np.asarray(q.offered_times))
        closed_sorted = np.sort(np.asarray(q.closed_times))
        starts = sorted(k[2] for k in acc if k[0] == queue and k[1] == channel)
        ends = np.asarray(starts) + interval_seconds
        open_items = np.searchsorted(offered_sorted, ends, side="left") - np.searchsorted(
            closed_sorted, ends, side="left"
        )
        for st, n in zip(starts, open_items, strict=True):
            backlog[(queue, channel, st)] = int(n)
    out = [
        IntervalStat(
            queue_id=k[0],
            channel=k[1],
            start=k[2],
            seconds=interval_seconds,
            offered=a.offered,
            answered=a.answered,
            abandoned=a.abandoned,
            answered_in_sl=a.in_sl,
            handle_seconds=a.handle,
            answer_wait_seconds=a.answer_wait,
            abandon_wait_seconds=a.abandon_wait,
            backlog=backlog.get(k, 0),
        )
        for k, a in acc.items()
    ]
    out.sort(key=lambda r: (r.queue_id, r.channel, r.start))
    return out


def merge(rows: Sequence[IntervalStat]) -> IntervalStat:
    """Sum counters of rows of the same key (backlog: the last one)."""
    first = rows[0]
    return IntervalStat(
        queue_id=first.queue_id,
        channel=first.channel,
        start=first.start,
        seconds=first.seconds,
        offered=sum(r.offered for r in rows),
        answered=sum(r.answered for r in rows),
        abandoned=sum(r.abandoned for r in rows),
        answered_in_sl=sum(r.answered_in_sl for r in rows),
        handle_seconds=sum(r.handle_seconds for r in rows),
        answer_wait_seconds=sum(r.answer_wait_seconds for r in rows),
        abandon_wait_seconds=sum(r.abandon_wait_seconds for r in rows),
        backlog=rows[-1].backlog,
    )


def estimate_patience(rows: Iterable[IntervalStat]) -> float | None:
    """Mean patience for exponential patience: total time spent waiting / abandonments.

    The maximum-likelihood estimate under censoring (answered callers' waits are
    censored patience observations); None when nobody abandoned.
    """
    waited = 0.0
    abandoned = 0
    for r in rows:
        waited += r.answer_wait_seconds + r.abandon_wait_seconds
        abandoned += r.abandoned
    if abandoned == 0:
        return None
    return waited / abandoned
