"""Discrete-event simulation: staffing computed for a target meets it when simulated.

Same assumptions as the formulas: Poisson arrivals, exponential handle times and (Erlang A)
exponential patience, first come first served. Waits of a busy queue are strongly
correlated, so one long run is a poor estimate: the service level is the mean of 10
independent runs of 100,000 calls (first 5 % of each discarded as warm-up), whose standard
error is about half a percentage point here; the stated tolerance is 1.5 points.
"""

from __future__ import annotations

import numpy as np

from contactcore.wfm.erlang import raw_agents_erlang_a, raw_agents_erlang_c
from contactcore.wfm.generator import simulate_fcfs

TOLERANCE = 0.015
CALLS = 100_000
RUNS = 10


def _simulate(
    rate: float, aht: float, patience: float, agents: int, threshold: float, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, CALLS))
    handle = rng.exponential(aht, CALLS)
    pat = rng.exponential(patience, CALLS) if np.isfinite(patience) else np.full(CALLS, np.inf)
    answered, _abandoned = simulate_fcfs(arrivals, handle, pat, lambda _t: agents)
    keep = slice(CALLS // 20, None)
    wait = answered[keep] - arrivals[keep]
    in_sl = np.nan_to_num(wait, nan=np.inf) <= threshold
    return float(in_sl.mean()), float(np.isnan(answered[keep]).mean())


def _replicated(
    rate: float, aht: float, patience: float, agents: int, threshold: float, runs: int = RUNS
) -> tuple[float, float]:
    results = [_simulate(rate, aht, patience, agents, threshold, seed) for seed in range(runs)]
    return float(np.mean([r[0] for r in results])), float(np.mean([r[1] for r in results]))


def test_erlang_c_staffing_meets_target_in_simulation() -> None:
    # 400 calls per half hour, AHT 200 s (44.4 Erlangs), 80 % within 20 s.
    m = raw_agents_erlang_c(400, 1800, 200, 0.8, 20)
    sl, _ = _replicated(400 / 1800, 200, np.inf, m.agents, 20)
    assert sl >= 0.8 - TOLERANCE
    assert abs(sl - m.service_level) < TOLERANCE
    # and one agent fewer misses it in simulation too
    sl_less, _ = _replicated(400 / 1800, 200, np.inf, m.agents - 1, 20, runs=3)
    assert sl_less < 0.8


def test_erlang_a_staffing_meets_target_in_simulation() -> None:
    # 300 calls per half hour, AHT 240 s (40 Erlangs), mean patience 90 s, 80 % within 30 s
    # of all offered calls (abandoners count as misses).
    m = raw_agents_erlang_a(300, 1800, 240, 90, 0.8, 30)
    sl, pab = _replicated(300 / 1800, 240, 90, m.agents, 30)
    assert sl >= 0.8 - TOLERANCE
    assert abs(sl - m.service_level) < TOLERANCE
    assert m.probability_abandon is not None
    assert abs(pab - m.probability_abandon) < TOLERANCE / 2
