"""Erlang A (M/M/N+M) against an independent numerical solution of the same Markov chain."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from contactcore.wfm.erlang import erlang_a_metrics, erlang_c_metrics, raw_agents_erlang_a


def ctmc_erlang_a(
    n: int, lam: float, aht: float, patience: float, t: float, cap: int = 400
) -> tuple[float, float, float]:
    """(service level, P(wait), P(abandon)) from a truncated generator matrix.

    The stationary law solves pi Q = 0 numerically; the answered-within-t probability of a
    caller finding k others waiting is read off the matrix exponential of the tagged
    caller's absorbing chain (k ahead ... 0 ahead, served, abandoned); P(abandon) comes from
    Little's law (abandonment rate = E[queue] / patience). No closed forms shared with the
    code under test.
    """
    mu, theta = 1.0 / aht, 1.0 / patience
    size = n + cap
    q = np.zeros((size, size))
    for s in range(size):
        if s + 1 < size:
            q[s, s + 1] = lam
        if s > 0:
            q[s, s - 1] = min(s, n) * mu + max(s - n, 0) * theta
        q[s, s] = -q[s].sum()
    a = np.vstack([q.T, np.ones(size)])
    b = np.zeros(size + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    k_max = cap - 1
    m = k_max + 3  # states: ahead = 0..k_max, served, abandoned
    served, gone = k_max + 1, k_max + 2
    g = np.zeros((m, m))
    for j in range(k_max + 1):
        g[j, served if j == 0 else j - 1] += n * mu + j * theta
        g[j, gone] += theta
        g[j, j] = -(n * mu + j * theta + theta)
    p_t = expm(g * t)
    sl = pi[:n].sum() + sum(pi[n + k] * p_t[k, served] for k in range(k_max + 1))
    queue = sum(k * pi[n + k] for k in range(cap))
    return float(sl), float(pi[n:].sum()), float(theta * queue / lam)


@pytest.mark.parametrize(
    ("n", "lam", "aht", "patience", "t"),
    [
        (5, 1 / 60, 240, 120, 20),
        (3, 1 / 30, 180, 60, 30),  # overloaded: 6 Erlangs on 3 agents
        (10, 1 / 25, 200, 300, 15),
        (1, 1 / 100, 120, 90, 10),
        (0, 1 / 100, 120, 90, 10),
    ],
)
def test_matches_numerical_markov_chain(
    n: int, lam: float, aht: float, patience: float, t: float
) -> None:
    m = erlang_a_metrics(n, lam, aht, patience, t)
    sl, pw, pab = ctmc_erlang_a(n, lam, aht, patience, t)
    assert m.service_level == pytest.approx(sl, abs=1e-9)
    assert m.probability_of_waiting == pytest.approx(pw, abs=1e-9)
    assert m.probability_abandon == pytest.approx(pab, abs=1e-8)
    assert m.asa_seconds == pytest.approx(pab * patience, rel=1e-7)


def test_infinite_patience_tends_to_erlang_c() -> None:
    a = erlang_a_metrics(14, 100 / 1800, 180, 1e8, 20)
    c = erlang_c_metrics(14, 10.0, 180, 20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
    assert a.probability_of_waiting == pytest.approx(c.probability_of_waiting, abs=1e-5)


def test_impatient_callers_need_fewer_agents_than_the_load() -> None:
    # 20 Erlangs, callers give up after 10 s on average, target 50 % within 60 s: abandoners
    # free capacity, so fewer agents than Erlangs meet it (a search starting at the load,
    # as some libraries do, overstaffs).
    m = raw_agents_erlang_a(300, 1800, 120, 10, 0.5, 60)
    assert m.agents < 20
    assert erlang_a_metrics(m.agents - 1, 300 / 1800, 120, 10, 60).service_level < 0.5


def test_large_system_is_stable() -> None:
    m = raw_agents_erlang_a(30000, 1800, 300, 180, 0.8, 20)  # 5,000 Erlangs
    # Efficiency-driven: fewer agents than Erlangs, abandonment close to the fluid 1 - N/A.
    assert 4000 < m.agents < 5000
    assert 0.8 <= m.service_level <= 1.0
    assert m.probability_abandon == pytest.approx(1 - m.agents / 5000, abs=0.01)
    assert erlang_a_metrics(m.agents - 1, 30000 / 1800, 300, 180, 20).service_level < 0.8


def test_caps_on_abandonment_and_occupancy() -> None:
    base = raw_agents_erlang_a(360, 1800, 240, 120, 0.5, 20)
    capped = raw_agents_erlang_a(360, 1800, 240, 120, 0.5, 20, max_abandon=0.01)
    assert capped.agents > base.agents
    assert capped.probability_abandon is not None
    assert capped.probability_abandon <= 0.01
    occ = raw_agents_erlang_a(360, 1800, 240, 120, 0.5, 20, max_occupancy=0.8)
    assert occ.occupancy <= 0.8


def test_zero_traffic() -> None:
    m = raw_agents_erlang_a(0, 1800, 240, 120, 0.8, 20)
    assert (m.agents, m.service_level, m.probability_abandon) == (0, 1.0, 0.0)


@settings(max_examples=60, deadline=None)
@given(
    calls=st.integers(1, 600),
    aht=st.integers(30, 600),
    patience=st.integers(5, 900),
    threshold=st.integers(0, 60),
)
def test_more_agents_never_lower_service_level(
    calls: int, aht: int, patience: int, threshold: int
) -> None:
    lam = calls / 1800
    levels = [erlang_a_metrics(n, lam, aht, patience, threshold) for n in range(0, 60, 3)]
    sls = [x.service_level for x in levels]
    assert all(0.0 <= x <= 1.0 for x in sls)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(sls))
    # occupancy never rises with more agents either: the bisection relies on all three
    occs = [x.occupancy for x in levels if x.agents > 0]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(occs))
    pabs = [x.probability_abandon or 0.0 for x in levels]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(pabs))


def test_very_patient_callers_staff_like_erlang_c() -> None:
    # Patience of ~30 years: the search passes overloaded agent counts (N < A) on its way,
    # which must stay cheap, and ends where Erlang C does.
    a = raw_agents_erlang_a(360, 1800, 240, 1e9, 0.8, 20)
    assert a.agents == erlang_c_metrics(54, 48.0, 240, 20).agents == 54
    assert a.service_level == pytest.approx(erlang_c_metrics(54, 48.0, 240, 20).service_level)
