"""Forecast and backtest on generated history; CSV-like series with gaps and other intervals."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from contactcore.errors import InvalidInput
from contactcore.wfm.forecast import backtest, forecast, series_from_points
from contactcore.wfm.generator import DemoQueue, expected_counts, generate
from contactcore.wfm.intervals import compute
from contactcore.wfm.service import series_from_rows


@pytest.fixture(scope="module")
def history():  # type: ignore[no-untyped-def]
    # 2026-06-29 .. 2026-09-13: ten weeks with July 3 (Independence Day observed) and
    # Labor Day (September 7) in the last week.
    items = generate([DemoQueue("sales", daily_volume=1200)], date(2026, 6, 29), 77, seed=11)
    return series_from_rows(compute(items, 900, 20))


def test_backtest_beats_seasonal_naive(history) -> None:  # type: ignore[no-untyped-def]
    for horizon in (7, 14):
        bt = backtest(history, horizon, "US")
        assert "statsmodels" in bt.model
        assert bt.wape < 0.85 * bt.baseline_wape, bt
        assert bt.mape < bt.baseline_mape
        assert bt.aht_wape is not None
        assert bt.aht_wape < 0.15


def test_holiday_is_forecast_low(history) -> None:  # type: ignore[no-untyped-def]
    train = history.head(70)  # up to Sunday 2026-09-06
    fc = forecast(train, 7, "US")
    per_day = fc.volume.reshape(7, -1).sum(axis=1)
    assert fc.first_day == date(2026, 9, 7)
    # Labor Day Monday well below the Tuesday after it, and close to the generated truth.
    assert per_day[0] < 0.5 * per_day[1]
    truth = expected_counts(DemoQueue("sales", daily_volume=1200), date(2026, 9, 7), 7, "US")
    truth_day = truth.reshape(7, -1).sum(axis=1)
    assert per_day[0] == pytest.approx(truth_day[0], rel=0.35)
    assert per_day[1:] == pytest.approx(truth_day[1:], rel=0.12)
    # No holidays configured: Labor Day is forecast as an ordinary Monday.
    plain = forecast(train, 7, None).volume.reshape(7, -1).sum(axis=1)
    assert plain[0] > per_day[1]


def test_forecast_is_zero_when_closed(history) -> None:  # type: ignore[no-untyped-def]
    fc = forecast(history, 2, "US")
    night = fc.volume.reshape(2, -1)[:, :28]  # 00:00 - 07:00
    assert np.all(night == 0)
    assert np.all(np.isfinite(fc.aht[fc.volume > 0]))


def test_series_with_gaps_and_half_hours() -> None:
    start = datetime(2026, 3, 2, 8, 0)
    points = []
    for day in range(21):
        for slot in range(0, 20):  # 08:00 - 18:00 every 30 min, weekends missing
            at = start + timedelta(days=day, minutes=30 * slot)
            if at.weekday() < 5:
                points.append((at, 10.0 + slot, 200.0))
    s = series_from_points(points)
    assert s.interval_seconds == 1800
    assert s.first_day == date(2026, 3, 2)
    assert s.days == 19  # to Friday of the third week
    assert s.volume[16] == 10.0  # 08:00 is the 17th half hour
    assert s.volume.sum() == pytest.approx(sum(p[1] for p in points))
    bt = backtest(s, 5, "US")
    assert bt.wape < 0.05  # a noiseless pattern is learnt
    assert bt.baseline_wape == pytest.approx(0.0)


def test_series_errors() -> None:
    at = datetime(2026, 3, 2, 8, 0)
    with pytest.raises(InvalidInput):
        series_from_points([(at, 1.0, None)])
    with pytest.raises(InvalidInput):
        series_from_points([(at, 1.0, None), (at, 2.0, None)])
    with pytest.raises(InvalidInput):
        series_from_points([(at, 1.0, None), (at + timedelta(seconds=7 * 3600 + 1), 2.0, None)])
    with pytest.raises(InvalidInput):
        series_from_points([(at, -1.0, None), (at + timedelta(hours=1), 2.0, None)])


def test_backtest_needs_a_week_of_training(history) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        backtest(history.head(10), 5, "US")


def test_a_missing_weekday_is_a_hole_not_a_closed_day() -> None:
    start = datetime(2026, 3, 2, 8, 0)  # a Monday
    lost = {date(2026, 3, 18), date(2026, 3, 24)}  # a Wednesday in training, a Tuesday held out
    points = []
    for day in range(26):
        for slot in range(20):
            at = start + timedelta(days=day, minutes=30 * slot)
            if at.weekday() < 5 and at.date() not in lost:
                points.append((at, 10.0 + slot, None))
    s = series_from_points(points)
    bt = backtest(s, 5, "US")  # held out: Monday 23 .. Friday 27 March
    assert bt.missing_days == 2
    assert bt.wape < 0.05  # the lost Wednesday was not learnt as a zero
    assert bt.baseline_wape == pytest.approx(0.0)  # ... nor copied by the baseline
    fc = forecast(s.head(21), 1, "US")  # Monday after the lost Wednesday's week
    assert fc.volume.sum() == pytest.approx(sum(10.0 + k for k in range(20)), rel=0.05)
