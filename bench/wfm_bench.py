"""Staffing throughput: a week of 15-minute intervals for many queues, Erlang C and A.

Prints one JSON object. ``python bench/wfm_bench.py [--queues 100] [--days 7]``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

import numpy as np

from contactcore.wfm.erlang import solve_erlang_c
from contactcore.wfm.generator import DemoQueue, expected_counts
from contactcore.wfm.staffing import StaffingTargets, staff


def workload(queues: int, days: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Volumes per 15 minutes: demo shapes scaled from tiny queues to one of ~5,000 agents."""
    rng = np.random.default_rng(seed)
    shape = expected_counts(DemoQueue("b", daily_volume=1.0), date(2026, 3, 2), days, "US", 900)
    scales = np.exp(rng.uniform(np.log(50), np.log(60_000), queues))
    scales[0] = 400_000.0  # the largest queue peaks near 5,000 agents
    vol = np.concatenate([shape * s for s in scales])
    aht = np.concatenate([np.full(shape.shape, a) for a in rng.uniform(120, 600, queues)])
    return vol, aht


def run(queues: int, days: int, repeat: int = 3) -> dict[str, float | int]:
    vol, aht = workload(queues, days)
    n = int(vol.shape[0])
    targets = StaffingTargets("c", 0.8, 20, 0.9, "0.3")
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = staff(vol, aht, 900, targets)
        best = min(best, time.perf_counter() - t0)
    traffic = vol * aht / 900
    t0 = time.perf_counter()
    solve_erlang_c(traffic, aht, 0.8, 20, 0.9)
    solver = time.perf_counter() - t0
    sample = np.flatnonzero(vol > 0)[:: max(1, n // 200)][:200]
    t0 = time.perf_counter()
    staff(vol[sample], aht[sample], 900, StaffingTargets("a", 0.8, 20, 0.9, "0.3", 180.0))
    erlang_a = (time.perf_counter() - t0) / max(1, sample.shape[0])
    return {
        "intervals": n,
        "queues": queues,
        "days": days,
        "max_raw_agents": int(res.raw_agents.max()),
        "erlang_c_table_seconds": round(best, 4),
        "erlang_c_solver_seconds": round(solver, 4),
        "intervals_per_second": round(n / best),
        "erlang_a_ms_per_interval": round(erlang_a * 1000, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--queues", type=int, default=100)
    p.add_argument("--days", type=int, default=7)
    args = p.parse_args()
    print(json.dumps(run(args.queues, args.days)))


if __name__ == "__main__":
    main()
