"""Volume and handle-time forecasts per interval, and their backtest.

Model (the classic top-down method of contact-center planning):

* **daily totals** are forecast with Holt-Winters exponential smoothing from
  ``statsmodels`` (additive weekly seasonality; with or without a damped trend, whichever
  has the lower AIC). statsmodels is already a dependency, well kept and fast on a
  series of a few hundred days. statsforecast was considered: its MSTL/AutoETS are good,
  but it pulls in numba/llvmlite (tens of MB and a JIT warm-up of seconds), too heavy for
  a planning command; a Holt-Winters on daily totals is as accurate here because the
  intraday shape is stable and is modelled separately;
* the **intraday profile** of each weekday is the share of the day's volume per interval,
  pooled over the last weeks (pooling is what beats the seasonal-naive baseline: one
  week of Poisson noise is averaged away);
* **public holidays** of the configured country (the ``holidays`` package) are taken out
  of the fit (replaced by the same weekday's mean) and forecast with the ratio observed on
  past holidays (or, with none in the history, that of the quietest weekday), using the
  quietest weekday's profile;
* **handle time** per interval is the volume-weighted mean of the same weekday and
  interval over the last weeks, falling back to the interval's and then the overall mean.

With under two weeks of history the daily totals fall back to weekday means.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import holidays
import numpy as np
import numpy.typing as npt

from contactcore.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
PROFILE_WEEKS = 6
MIN_FIT_DAYS = 14


@dataclass(frozen=True)
class Series:
    """A regular series of interval counts (and handle times) starting at local midnight."""

    first_day: date
    interval_seconds: int
    volume: FloatArray  # days * per_day values
    aht: FloatArray | None = None  # NaN where unknown
    observed: npt.NDArray[np.bool_] | None = None  # per day: did the source have any row?

    @property
    def per_day(self) -> int:
        return int(86400 // self.interval_seconds)

    @property
    def days(self) -> int:
        return int(self.volume.shape[0]) // self.per_day

    def head(self, days: int) -> Series:
        n = days * self.per_day
        aht = None if self.aht is None else self.aht[:n]
        seen = None if self.observed is None else self.observed[:days]
        return Series(self.first_day, self.interval_seconds, self.volume[:n], aht, seen)

    def tail_from(self, days: int) -> Series:
        n = days * self.per_day
        aht = None if self.aht is None else self.aht[n:]
        seen = None if self.observed is None else self.observed[days:]
        return Series(
            self.first_day + timedelta(days=days), self.interval_seconds, self.volume[n:], aht, seen
        )


@dataclass(frozen=True)
class Forecast:
    first_day: date
    interval_seconds: int
    volume: FloatArray
    aht: FloatArray
    model: str

    def starts(self) -> list[datetime]:
        origin = datetime(self.first_day.year, self.first_day.month, self.first_day.day)
        step = timedelta(seconds=self.interval_seconds)
        return [origin + i * step for i in range(self.volume.shape[0])]


@dataclass(frozen=True)
class Backtest:
    model: str
    wape: float
    mape: float
    baseline_wape: float
    baseline_mape: float
    aht_wape: float | None
    horizon_days: int
    train_days: int
    missing_days: int
    interval_seconds: int


def series_from_points(
    points: Iterable[tuple[datetime, float, float | None]],
) -> Series:
    """A regular series from (time, count, aht) points at any regular interval, gaps allowed.

    The interval is the greatest common divisor of the gaps between points; missing
    intervals count as no volume (exports usually omit empty or closed intervals). A
    whole day without rows is remembered: on a weekday that is usually open and not a
    holiday it is missing data, not a closed day (see :func:`missing_days`).
    """
    rows = sorted(points, key=lambda p: p[0])
    if len(rows) < 2:
        raise InvalidInput("need at least two rows of history")
    naive = [p[0].replace(tzinfo=None) for p in rows]
    origin = datetime(naive[0].year, naive[0].month, naive[0].day)
    offsets = [round((t - origin).total_seconds()) for t in naive]
    step = 0
    for a, b in itertools.pairwise(offsets):
        if b == a:
            raise InvalidInput(f"duplicate time in history: {naive[offsets.index(a)]}")
        step = math.gcd(step, b - a)
    step = math.gcd(step, offsets[0]) if offsets[0] else step
    if step < 60 or 86400 % step:
        raise InvalidInput(
            f"the rows are {step} s apart: the interval must be at least 60 s and divide a day"
        )
    per_day = 86400 // step
    days = offsets[-1] // 86400 + 1
    volume = np.zeros(days * per_day)
    aht = np.full(days * per_day, np.nan)
    observed = np.zeros(days, dtype=bool)
    has_aht = False
    for off, (_, count, h) in zip(offsets, rows, strict=True):
        observed[off // 86400] = True
        if not math.isfinite(count) or count < 0:
            raise InvalidInput(f"counts must be finite and not negative, got {count}")
        volume[off // step] = count
        if h is not None and math.isfinite(h):
            aht[off // step] = h
            has_aht = True
    return Series(origin.date(), step, volume, aht if has_aht else None, observed)


def missing_days(series: Series, holiday: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Days without any row although their weekday is usually open and they are no holiday.

    Such a day is a hole in the export (an outage, a lost file), not a closed day: it is
    left out of fitting and scoring rather than learnt as zero volume.
    """
    days = series.days
    if series.observed is None:
        return np.zeros(days, dtype=bool)
    seen = series.observed[:days]
    weekday = (series.first_day.weekday() + np.arange(days)) % 7
    usually_open = np.array(
        [bool(np.any(weekday == wd)) and seen[weekday == wd].mean() >= 0.5 for wd in range(7)]
    )
    out: npt.NDArray[np.bool_] = ~seen & usually_open[weekday] & ~holiday[:days]
    return out


def _holiday_flags(first_day: date, days: int, country: str | None) -> npt.NDArray[np.bool_]:
    if not country:
        return np.zeros(days, dtype=bool)
    last = first_day + timedelta(days=days)
    try:
        cal = holidays.country_holidays(country, years=range(first_day.year, last.year + 1))
    except NotImplementedError as exc:
        raise InvalidInput(f"unknown holiday country {country!r} (use e.g. US, GB, DE)") from exc
    return np.array([(first_day + timedelta(days=i)) in cal for i in range(days)], dtype=bool)


def forecast(history: Series, horizon_days: int, country: str | None = "US") -> Forecast:
    """Volume and AHT per interval for the ``horizon_days`` days after the history."""
    if horizon_days <= 0:
        raise InvalidInput("the horizon must be at least one day")
    days = history.days
    if days < 7:
        raise InvalidInput(f"need at least 7 days of history, got {days}")
    per_day = history.per_day
    grid = history.volume[: days * per_day].reshape(days, per_day)
    totals = grid.sum(axis=1)
    hol = _holiday_flags(history.first_day, days + horizon_days, country)
    hist_hol, fut_hol = hol[:days], hol[days:]
    hole = missing_days(history, hist_hol)
    weekday = np.array([(history.first_day + timedelta(days=i)).weekday() for i in range(days)])
    fut_weekday = (weekday[-1] + 1 + np.arange(horizon_days)) % 7

    # Weekday means of ordinary days over the recent weeks, used to impute holidays.
    recent = np.arange(days) >= days - 7 * PROFILE_WEEKS
    means = np.zeros(7)
    for wd in range(7):
        sel = (weekday == wd) & ~hist_hol & ~hole
        pick = sel & recent if np.any(sel & recent) else sel
        means[wd] = totals[pick].mean() if np.any(pick) else 0.0
    fitted = totals.copy()
    fitted[hist_hol | hole] = means[weekday[hist_hol | hole]]

    model = "weekday mean x weekday intraday profile"
    if days >= MIN_FIT_DAYS and fitted.sum() > 0:
        daily = _holt_winters(fitted, horizon_days)
        model = "statsmodels Holt-Winters on daily totals x weekday intraday profile"
    else:
        daily = means[fut_weekday]
    daily = np.maximum(daily, 0.0)

    # Holidays: the ratio seen on past holidays, else the quietest open weekday's ratio.
    open_days = means > 0
    quiet = int(np.argmin(np.where(open_days, means, np.inf))) if np.any(open_days) else 0
    ratios = [totals[i] / means[weekday[i]] for i in np.flatnonzero(hist_hol) if means[weekday[i]]]
    if ratios:
        hol_ratio = float(np.median(ratios))
    else:
        hol_ratio = float(means[quiet] / means.mean()) if means.mean() > 0 else 0.0
    daily = np.where(fut_hol, daily * hol_ratio, daily)

    profiles = np.zeros((8, per_day))  # 0..6 weekdays, 7 holidays
    for wd in range(7):
        sel = np.flatnonzero((weekday == wd) & ~hist_hol & ~hole)[-PROFILE_WEEKS:]
        profiles[wd] = _profile(grid[sel])
    hol_rows = np.flatnonzero(hist_hol)
    profiles[7] = _profile(grid[hol_rows]) if hol_rows.size else profiles[quiet]
    if profiles[7].sum() == 0:
        profiles[7] = profiles[quiet]
    rows = np.where(fut_hol, 7, fut_weekday)
    volume = (daily[:, None] * profiles[rows]).reshape(-1)

    aht = _aht_forecast(history, weekday, hist_hol | hole, fut_weekday)
    if country:
        model += f", holidays {country}"
    first = history.first_day + timedelta(days=days)
    return Forecast(first, history.interval_seconds, volume, aht, model)


def _profile(rows: FloatArray) -> FloatArray:
    if rows.size == 0:
        return np.zeros(rows.shape[1] if rows.ndim == 2 else 0)
    pooled = rows.sum(axis=0)
    total = pooled.sum()
    out: FloatArray = pooled / total if total > 0 else pooled
    return out


def _holt_winters(y: FloatArray, horizon: int) -> FloatArray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    best: FloatArray | None = None
    best_aic = math.inf
    for trend, damped in ((None, False), ("add", True)):
        with warnings.catch_warnings():
            # statsmodels warns about convergence on short or flat series; the AIC decides.
            warnings.simplefilter("ignore")
            try:
                fit = ExponentialSmoothing(
                    y,
                    trend=trend,
                    damped_trend=damped,
                    seasonal="add",
                    seasonal_periods=7,
                    initialization_method="estimated",
                ).fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
            aic = float(fit.aic) if math.isfinite(fit.aic) else math.inf
            fc = np.asarray(fit.forecast(horizon), dtype=np.float64)
        if best is None or aic < best_aic:
            best, best_aic = fc, aic
    if best is None or not np.all(np.isfinite(best)):
        return np.resize(y[-7:], horizon).astype(np.float64)
    return best


def _aht_forecast(
    history: Series,
    weekday: npt.NDArray[np.int64],
    hist_hol: npt.NDArray[np.bool_],
    fut_weekday: npt.NDArray[np.int64],
) -> FloatArray:
    per_day = history.per_day
    horizon = fut_weekday.shape[0]
    if history.aht is None:
        return np.full(horizon * per_day, np.nan)
    days = history.days
    vol = history.volume[: days * per_day].reshape(days, per_day)
    aht = history.aht[: days * per_day].reshape(days, per_day)
    known = np.isfinite(aht) & (vol > 0)
    work = np.where(known, aht * vol, 0.0)
    weight = np.where(known, vol, 0.0)
    overall = work.sum() / weight.sum() if weight.sum() > 0 else np.nan
    by_slot = np.where(
        weight.sum(axis=0) > 0, work.sum(axis=0) / np.maximum(weight.sum(axis=0), 1e-12), overall
    )
    table = np.zeros((7, per_day))
    for wd in range(7):
        sel = np.flatnonzero((weekday == wd) & ~hist_hol)[-PROFILE_WEEKS:]
        w = weight[sel].sum(axis=0)
        table[wd] = np.where(w > 0, work[sel].sum(axis=0) / np.maximum(w, 1e-12), by_slot)
    out: FloatArray = table[fut_weekday].reshape(-1)
    return out


def _wape(actual: FloatArray, predicted: FloatArray) -> float:
    total = float(np.abs(actual).sum())
    return float(np.abs(actual - predicted).sum() / total) if total > 0 else math.nan


def _mape(actual: FloatArray, predicted: FloatArray) -> float:
    mask = actual > 0
    if not np.any(mask):
        return math.nan
    return float(np.mean(np.abs(actual[mask] - predicted[mask]) / actual[mask]))


def seasonal_naive(
    history: Series, horizon_days: int, hole: npt.NDArray[np.bool_] | None = None
) -> FloatArray:
    """Same interval one week earlier; beyond a week, the last observed week repeated.

    A day of that week missing from the data is taken from the week before it.
    """
    per_day = history.per_day
    grid = history.volume[: history.days * per_day].reshape(history.days, per_day)
    days = []
    for i in range(history.days - 7, history.days):
        j = i
        while hole is not None and j >= 7 and hole[j]:
            j -= 7
        days.append(grid[j])
    return np.resize(np.concatenate(days), horizon_days * per_day).astype(np.float64)


def backtest(series: Series, horizon_days: int, country: str | None = "US") -> Backtest:
    """Hold out the last ``horizon_days`` days, forecast them from the rest, score both."""
    if horizon_days <= 0:
        raise InvalidInput("--horizon-days must be at least 1")
    train_days = series.days - horizon_days
    if train_days < 7:
        raise InvalidInput(
            f"need at least 7 days before the held-out {horizon_days} days, "
            f"history has {series.days} days"
        )
    train = series.head(train_days)
    test = series.tail_from(train_days)
    fc = forecast(train, horizon_days, country)
    # Days missing from the data are scored for neither the model nor the baseline.
    hole = missing_days(series, _holiday_flags(series.first_day, series.days, country))
    naive = seasonal_naive(train, horizon_days, hole[:train_days])
    keep = np.repeat(~hole[train_days:], series.per_day)
    naive = naive[keep]
    fc = Forecast(fc.first_day, fc.interval_seconds, fc.volume[keep], fc.aht[keep], fc.model)
    test = Series(
        test.first_day,
        test.interval_seconds,
        test.volume[keep],
        None if test.aht is None else test.aht[keep],
    )
    actual = test.volume
    aht_wape: float | None = None
    if test.aht is not None:
        mask = np.isfinite(test.aht) & np.isfinite(fc.aht) & (actual > 0)
        if np.any(mask):
            w = actual[mask]
            aht_wape = float(
                np.sum(w * np.abs(test.aht[mask] - fc.aht[mask])) / np.sum(w * test.aht[mask])
            )
    return Backtest(
        model=fc.model,
        wape=_wape(actual, fc.volume),
        mape=_mape(actual, fc.volume),
        baseline_wape=_wape(actual, naive),
        baseline_mape=_mape(actual, naive),
        aht_wape=aht_wape,
        horizon_days=horizon_days,
        train_days=train_days,
        missing_days=int(hole.sum()),
        interval_seconds=series.interval_seconds,
    )
