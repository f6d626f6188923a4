"""Erlang B/C: published worked examples, an independent exact implementation, properties."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactcore.errors import InvalidInput
from contactcore.wfm.erlang import (
    agents_after_shrinkage,
    agents_after_shrinkage_many,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    raw_agents_erlang_c,
    solve_erlang_c,
)


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    """Erlang C by direct summation in rational arithmetic (only for small n)."""
    term = Fraction(1)
    total = Fraction(0)
    for k in range(n):
        total += term
        term = term * a / (k + 1)
    top = term * n / (n - a)  # a^n/n! * n/(n-a)
    return top / (total + top)


def log_space_erlang_c(n: int, a: float) -> float:
    """Erlang C by direct summation of log terms (math.lgamma, fsum): for large n."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(n)]
    top = n * math.log(a) - math.lgamma(n + 1) + math.log(n / (n - a))
    peak = max([*logs, top])
    total = math.fsum(math.exp(x - peak) for x in logs)
    t = math.exp(top - peak)
    return t / (total + t)


def test_callcentrehelper_worked_example() -> None:
    """Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    100 calls in 30 minutes, AHT 180 s, 80 % in 20 s, max occupancy 85 %, shrinkage 30 %.
    Published: traffic 10 Erlangs; 14 agents; probability of waiting 17.4 %; service level
    88.8 %; ASA 7.8 s; occupancy 71.4 %; 20 agents with shrinkage. (13 agents give 79.6 %.)
    """
    m = raw_agents_erlang_c(100, 1800, 180, 0.8, 20, max_occupancy=0.85)
    assert m.agents == 14
    assert m.probability_of_waiting == pytest.approx(0.1741, abs=5e-5)
    assert m.service_level == pytest.approx(0.8884, abs=5e-5)
    assert m.asa_seconds == pytest.approx(7.8, abs=0.05)
    assert m.occupancy == pytest.approx(0.714, abs=5e-4)
    assert agents_after_shrinkage(m.agents, 0.3) == 20
    assert erlang_c_metrics(13, 10.0, 180, 20).service_level == pytest.approx(0.7956, abs=5e-5)


def test_erlang_com_example_360_calls_55_agents() -> None:
    """The Erlang-C formula walk-through (360 calls per half hour, 4-minute calls, 55 agents,
    target answer time 15 s): A = 48 Erlangs, occupancy 87.3 %; checked against exact
    rational arithmetic rather than the page's rounded figures."""
    m = erlang_c_metrics(55, 48.0, 240, 15)
    pw = float(exact_erlang_c(55, Fraction(48)))
    assert m.probability_of_waiting == pytest.approx(pw, rel=1e-12)
    assert m.occupancy == pytest.approx(48 / 55)
    assert m.service_level == pytest.approx(1 - pw * math.exp(-(55 - 48) * 15 / 240), rel=1e-12)
    assert m.asa_seconds == pytest.approx(pw * 240 / 7, rel=1e-12)
    # The figures: 23.87 % wait, 84.59 % answered within 15 s, ASA 8.18 s.
    assert pw == pytest.approx(0.2387, abs=5e-5)
    assert m.service_level == pytest.approx(0.8459, abs=5e-5)
    assert m.asa_seconds == pytest.approx(8.18, abs=5e-3)


@settings(max_examples=150, deadline=None)
@given(
    calls=st.integers(1, 400),
    aht=st.integers(10, 900),
    interval=st.sampled_from([900, 1800, 3600]),
    extra=st.integers(1, 25),
)
def test_erlang_c_matches_exact_rational(calls: int, aht: int, interval: int, extra: int) -> None:
    a = Fraction(calls * aht, interval)
    n = math.floor(a) + extra
    assert erlang_c(n, float(a)) == pytest.approx(float(exact_erlang_c(n, a)), rel=1e-11)


@pytest.mark.parametrize(("traffic", "agents"), [(950.0, 990), (4200.5, 4260), (5000.0, 5100)])
def test_large_systems_no_overflow(traffic: float, agents: int) -> None:
    assert erlang_c(agents, traffic) == pytest.approx(log_space_erlang_c(agents, traffic), rel=1e-9)
    m = raw_agents_erlang_c(traffic * 1800 / 300, 1800, 300, 0.8, 20)
    assert traffic < m.agents < traffic + 5 * math.sqrt(traffic)
    assert m.service_level >= 0.8
    assert erlang_c_metrics(m.agents - 1, traffic, 300, 20).service_level < 0.8


def test_erlang_b_recursion_matches_exact() -> None:
    for n in range(0, 30):
        a = Fraction(37, 3)
        num = a**n / math.factorial(n)
        den = sum(a**k / math.factorial(k) for k in range(n + 1))
        assert erlang_b(n, float(a)) == pytest.approx(float(num / den), rel=1e-13)


def test_zero_traffic_needs_zero_agents() -> None:
    m = raw_agents_erlang_c(0, 1800, 180, 0.8, 20, 0.85)
    assert (m.agents, m.service_level, m.probability_of_waiting, m.asa_seconds) == (0, 1, 0, 0)
    agents, sl, *_ = solve_erlang_c([0.0, 0.0], [180.0, 0.0], 0.8, 20)
    assert agents.tolist() == [0, 0]
    assert sl.tolist() == [1.0, 1.0]


@settings(max_examples=100, deadline=None)
@given(
    traffic=st.floats(0.01, 300.0),
    aht=st.floats(5.0, 1200.0),
    threshold=st.floats(0.0, 120.0),
    target=st.floats(0.0, 0.99),
    occ=st.floats(0.5, 1.0),
)
def test_solution_is_the_fewest_meeting_every_constraint(
    traffic: float, aht: float, threshold: float, target: float, occ: float
) -> None:
    agents, sl, _pw, _asa, _occupancy = solve_erlang_c([traffic], [aht], target, threshold, occ)
    n = int(agents[0])
    m = erlang_c_metrics(n, traffic, aht, threshold)
    assert 0.0 <= sl[0] <= 1.0
    assert sl[0] == pytest.approx(m.service_level, abs=1e-9)
    assert sl[0] >= target
    assert traffic / n <= occ * (1 + 1e-9)
    assert n > traffic
    if n - 1 > traffic and traffic / (n - 1) <= occ:
        assert erlang_c_metrics(n - 1, traffic, aht, threshold).service_level < target


@settings(max_examples=100, deadline=None)
@given(traffic=st.floats(0.0, 200.0), aht=st.floats(5.0, 600.0), threshold=st.floats(0, 60))
def test_more_agents_never_lower_service_level(
    traffic: float, aht: float, threshold: float
) -> None:
    start = math.floor(traffic) + 1
    levels = [
        erlang_c_metrics(n, traffic, aht, threshold).service_level for n in range(start, start + 40)
    ]
    assert all(0.0 <= x <= 1.0 for x in levels)
    assert all(b >= a - 1e-15 for a, b in itertools.pairwise(levels))


def test_vectorised_equals_scalar() -> None:
    rng = np.random.default_rng(3)
    traffic = rng.uniform(0, 80, 500)
    traffic[::7] = 0.0
    aht = rng.uniform(60, 600, 500)
    agents, sl, *_ = solve_erlang_c(traffic, aht, 0.85, 30, 0.9)
    for i in range(0, 500, 25):
        # calls per 1-second interval = traffic / aht
        m = raw_agents_erlang_c(traffic[i] / aht[i], 1.0, aht[i], 0.85, 30, 0.9)
        assert agents[i] == m.agents
        assert sl[i] == pytest.approx(m.service_level, abs=1e-9)


def test_occupancy_cap_is_exact_at_the_boundary() -> None:
    # 8.5 / 0.85 is 10.000000000000002 in binary floating point; 10 agents are enough.
    agents, *_ = solve_erlang_c([8.5], [180.0], 0.0, 20, 0.85)
    assert agents[0] == 10


def test_bad_targets_are_rejected() -> None:
    with pytest.raises(InvalidInput):
        solve_erlang_c([1.0], [180.0], 1.0, 20)
    with pytest.raises(InvalidInput):
        solve_erlang_c([1.0], [180.0], 0.8, 20, 0.0)
    with pytest.raises(InvalidInput):
        solve_erlang_c([-1.0], [180.0], 0.8, 20)


# --- shrinkage ----------------------------------------------------------------------------


def test_shrinkage_where_a_float_ceiling_is_one_too_high() -> None:
    assert math.ceil(21 / (1 - 0.3)) == 31  # the naive answer
    assert agents_after_shrinkage(21, 0.3) == 30  # 30 x 0.7 = 21 exactly
    assert math.ceil(3 / (1 - 0.9)) == 31
    assert agents_after_shrinkage(3, "0.9") == 30
    assert agents_after_shrinkage(14, 0.3) == 20
    assert agents_after_shrinkage(9, "0.1") == 10
    assert agents_after_shrinkage(0, 0.5) == 0
    assert agents_after_shrinkage(7, 0) == 7


decimals = st.integers(0, 9999).map(lambda k: f"0.{k:04d}")


@settings(max_examples=300, deadline=None)
@given(raw=st.integers(0, 20000), shrinkage=decimals)
def test_shrinkage_is_the_fewest_exact(raw: int, shrinkage: str) -> None:
    s = Fraction(shrinkage)
    m = agents_after_shrinkage(raw, shrinkage)
    assert m * (1 - s) >= raw
    assert m == 0 or (m - 1) * (1 - s) < raw
    assert agents_after_shrinkage(raw, float(shrinkage)) == m
    assert agents_after_shrinkage_many(np.array([raw, raw]), shrinkage).tolist() == [m, m]


def test_shrinkage_out_of_range() -> None:
    with pytest.raises(InvalidInput):
        agents_after_shrinkage(3, 1.0)
    with pytest.raises(InvalidInput):
        agents_after_shrinkage(3, -0.1)
