"""Demo history that looks like a real contact center, for ``make run`` and for tests.

Arrivals are a non-homogeneous Poisson process (piecewise constant per 5 minutes) with a
weekly pattern, a two-peak day and quieter public holidays; handle times are lognormal;
callers have exponential patience and leave when their wait exceeds it. The queue is
simulated first-come-first-served with a staffing level that follows the load (Erlang C
at a target that varies a little, so the service level is not the same every interval).
"""

from __future__ import annotations

import calendar
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import holidays
import numpy as np
import numpy.typing as npt

from contactcore.core.wfm import InteractionSummary
from contactcore.wfm.erlang import solve_erlang_c

FloatArray = npt.NDArray[np.float64]

SLOT_SECONDS = 300
WEEKDAY_FACTORS = (1.15, 1.05, 1.0, 1.0, 0.95, 0.45, 0.25)
HOLIDAY_FACTOR = 0.3


@dataclass(frozen=True, slots=True)
class DemoQueue:
    queue_id: str
    channel: str = "voice"
    daily_volume: float = 2000.0  # on an ordinary Wednesday
    aht_seconds: float = 240.0
    aht_cv: float = 0.6  # coefficient of variation of the lognormal handle time
    patience_seconds: float = 180.0
    opens_hour: float = 8.0
    closes_hour: float = 20.0


def intraday_shape(hours: FloatArray, opens: float, closes: float) -> FloatArray:
    """Relative arrival intensity by hour of day: a morning and an early-afternoon peak."""
    shape = 0.55 * np.exp(-0.5 * ((hours - 10.5) / 1.6) ** 2) + 0.45 * np.exp(
        -0.5 * ((hours - 14.5) / 2.0) ** 2
    )
    shape = shape + 0.08
    out: FloatArray = np.where((hours >= opens) & (hours < closes), shape, 0.0)
    return out


def expected_counts(
    queue: DemoQueue, first_day: date, days: int, country: str, slot_seconds: int = SLOT_SECONDS
) -> FloatArray:
    """Expected arrivals per slot, days x slots_per_day, flattened."""
    per_day = 86400 // slot_seconds
    hours = (np.arange(per_day, dtype=np.float64) + 0.5) * slot_seconds / 3600.0
    shape = intraday_shape(hours, queue.opens_hour, queue.closes_hour)
    shape = shape / shape.sum()
    hol = holidays.country_holidays(country, years=range(first_day.year, first_day.year + 2))
    rows = []
    for i in range(days):
        d = first_day + timedelta(days=i)
        level = queue.daily_volume * WEEKDAY_FACTORS[d.weekday()]
        if d in hol:
            level *= HOLIDAY_FACTOR
        # a gentle upward trend of about 5 % over ten weeks
        level *= 1.0 + 0.0007 * i
        rows.append(level * shape)
    return np.concatenate(rows)


def simulate_fcfs(
    arrivals: FloatArray,
    handle: FloatArray,
    patience: FloatArray,
    agents_at: Callable[[float], int],
) -> tuple[FloatArray, FloatArray]:
    """First-come-first-served multi-agent queue with reneging.

    Returns (answer time or NaN, abandon time or NaN) per arrival. A caller takes the
    agent that frees first; if that is later than their patience allows, they leave and
    the agent is untouched. This is exact for FCFS when staffing is constant; staffing
    changes take effect when the next caller arrives.
    """
    n = arrivals.shape[0]
    answered = np.full(n, np.nan)
    abandoned = np.full(n, np.nan)
    free: list[float] = []
    staffed = 0
    for i in range(n):
        t = float(arrivals[i])
        want = agents_at(t)
        while staffed < want:
            heapq.heappush(free, t)
            staffed += 1
        while staffed > want:
            heapq.heappop(free)
            staffed -= 1
        if staffed == 0:
            abandoned[i] = t + float(patience[i]) if math.isfinite(patience[i]) else math.nan
            continue
        start = max(t, free[0])
        if start - t > patience[i]:
            abandoned[i] = t + float(patience[i])
            continue
        answered[i] = start
        heapq.heapreplace(free, start + float(handle[i]))
    return answered, abandoned


def lognormal_handle(rng: np.random.Generator, mean: float, cv: float, size: int) -> FloatArray:
    sigma2 = math.log(1.0 + cv * cv)
    mu = math.log(mean) - sigma2 / 2.0
    out: FloatArray = rng.lognormal(mu, math.sqrt(sigma2), size)
    return out


def generate(
    queues: Sequence[DemoQueue],
    first_day: date,
    days: int,
    *,
    country: str = "US",
    seed: int = 7,
    interval_seconds: int = 900,
) -> list[InteractionSummary]:
    """Interactions of every queue over ``days`` days starting at ``first_day`` (UTC)."""
    rng = np.random.default_rng(seed)
    origin = float(calendar.timegm(first_day.timetuple()))
    out: list[InteractionSummary] = []
    for q in queues:
        lam = expected_counts(q, first_day, days, country)
        counts = rng.poisson(lam)
        slot_starts = origin + np.arange(lam.shape[0]) * SLOT_SECONDS
        arrivals = np.repeat(slot_starts, counts) + rng.uniform(0, SLOT_SECONDS, counts.sum())
        arrivals.sort()
        handle = lognormal_handle(rng, q.aht_seconds, q.aht_cv, arrivals.shape[0])
        patience = rng.exponential(q.patience_seconds, arrivals.shape[0])
        staffing = _demo_staffing(lam, q.aht_seconds, interval_seconds, rng)

        def agents_at(t: float, staffing: npt.NDArray[np.int64] = staffing) -> int:
            k = int((t - origin) // interval_seconds)
            return int(staffing[min(max(k, 0), staffing.shape[0] - 1)])

        answered, abandoned = simulate_fcfs(arrivals, handle, patience, agents_at)
        talk = handle * 0.8
        hold = handle * 0.05
        wrap = handle - talk - hold
        for i in range(arrivals.shape[0]):
            ans = answered[i]
            if math.isnan(ans):
                out.append(
                    InteractionSummary(
                        q.queue_id, q.channel, float(arrivals[i]), None, float(abandoned[i])
                    )
                )
            else:
                out.append(
                    InteractionSummary(
                        q.queue_id,
                        q.channel,
                        float(arrivals[i]),
                        float(ans),
                        None,
                        float(talk[i]),
                        float(hold[i]),
                        float(wrap[i]),
                    )
                )
    out.sort(key=lambda s: s.offered_at)
    return out


def _demo_staffing(
    lam_per_slot: FloatArray, aht: float, interval_seconds: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Agents per interval as a planner would have scheduled them, with some slack or lack."""
    per = interval_seconds // SLOT_SECONDS
    lam = lam_per_slot[: lam_per_slot.shape[0] // per * per].reshape(-1, per).sum(axis=1)
    traffic = lam * aht / interval_seconds
    agents, *_ = solve_erlang_c(traffic, aht, 0.8, 20.0, 0.95)
    jitter = rng.integers(-1, 2, agents.shape[0])
    out: npt.NDArray[np.int64] = np.where(agents > 0, np.maximum(agents + jitter, 1), 0)
    return out
