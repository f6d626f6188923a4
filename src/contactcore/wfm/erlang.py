"""Erlang B, C and A: queueing formulas for staffing, exact from 0 to many thousands of agents.

Why not the obvious formulas: ``A**N / N!`` overflows beyond ~170 agents, and the
published libraries start their searches at the wrong agent count (see issue 7). Here:

* Erlang B is taken from the Poisson distribution in log space
  (``B(N, A) = pmf(N; A) / cdf(N; A)``) where that is well conditioned (N above the
  mean), then stepped up with the classic stable recursion
  ``B(n) = A B(n-1) / (n + A B(n-1))``; so Erlang C never overflows nor loses precision.
* Erlang A (M/M/N+M) is evaluated from its stationary distribution in log space with
  ``logsumexp``. The service level uses an exact identity: with ``c = N*patience/AHT``
  the time a caller who finds ``k`` others waiting needs to reach an agent is
  ``-patience * ln(B)`` with ``B ~ Beta(c, k + 1)``, so
  ``P(answered within t | k) = c / (c + k + 1) * P(Beta(c + 1, k + 1) >= exp(-t/patience))``
  (a regularised incomplete beta function); the mean wait over all offered calls is
  ``P(abandon) * patience`` (Little's law on the queue, abandonment rate = Lq/patience).
* :func:`agents_after_shrinkage` uses rational arithmetic on the decimal the planner
  typed: ``ceil(21 / (1 - 0.3))`` is 31 in floating point, the right answer is 30
  (30 x 0.7 = 21); with shrinkage 0.9 and 3 agents, 31 instead of 30.

All searches return the fewest agents meeting every constraint; metrics are those at
that number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy import special

from contactcore.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Relative slack on the occupancy cap, so that 8.5 erlangs at 85 % gives exactly 10 agents
# despite 8.5 / 0.85 being 10.000000000000002 in binary floating point.
_OCC_SLACK = 1e-12
_MAX_STEPS = 1_000_000


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """Expected performance of one interval at a given number of agents."""

    agents: int
    service_level: float
    probability_of_waiting: float
    asa_seconds: float
    occupancy: float
    probability_abandon: float | None = None


def traffic_erlangs(calls: float, aht_seconds: float, interval_seconds: float) -> float:
    """Offered load: call-seconds per second."""
    return calls * aht_seconds / interval_seconds


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of an M/M/N/N system (stable recursion)."""
    if agents < 0 or traffic < 0:
        raise InvalidInput("agents and traffic must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def _log_erlang_b_above_mean(agents: npt.ArrayLike, traffic: npt.ArrayLike) -> FloatArray:
    """log B(N, A) for N >= A, where the Poisson cdf is at least about one half."""
    n = np.asarray(agents, dtype=np.float64)
    a = np.asarray(traffic, dtype=np.float64)
    log_pmf = n * np.log(a) - a - special.gammaln(n + 1.0)
    log_cdf = np.log(special.pdtr(n, a))  # well above zero for n >= a
    out: FloatArray = log_pmf - log_cdf
    return out


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (M/M/N); 1 when the queue is unstable (N <= A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = float(np.exp(_log_erlang_b_above_mean(agents, traffic)))
    return _c_from_b(agents, traffic, b)


def _c_from_b(n: float, a: float, b: float) -> float:
    return n * b / (n - a * (1.0 - b))


def erlang_c_metrics(
    agents: int, traffic: float, aht_seconds: float, threshold_seconds: float
) -> QueueMetrics:
    """Service level (fraction of all calls answered within the threshold), Pw, ASA, occupancy."""
    if traffic <= 0:
        return QueueMetrics(agents, 1.0, 0.0, 0.0, 0.0)
    if agents <= traffic:
        return QueueMetrics(agents, 0.0, 1.0, math.inf, 1.0)
    pw = erlang_c(agents, traffic)
    spare = agents - traffic
    sl = 1.0 - pw * math.exp(-spare * threshold_seconds / aht_seconds)
    return QueueMetrics(
        agents=agents,
        service_level=min(1.0, max(0.0, sl)),
        probability_of_waiting=pw,
        asa_seconds=pw * aht_seconds / spare,
        occupancy=traffic / agents,
    )


def _occupancy_floor(traffic: FloatArray, max_occupancy: float) -> IntArray:
    """Fewest agents with traffic / agents <= max_occupancy (with a tiny float slack)."""
    need = traffic / (max_occupancy * (1.0 + _OCC_SLACK))
    return np.ceil(need).astype(np.int64)


def solve_erlang_c(
    traffic: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    target_sl: float,
    threshold_seconds: float,
    max_occupancy: float = 1.0,
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Fewest agents per interval meeting the service level and the occupancy cap.

    Vectorised over intervals: each interval starts just above its load (Erlang C needs
    N > A) or at its occupancy floor, then steps up with the Erlang B recursion; only the
    intervals not yet meeting the target keep stepping. Returns agents, service level,
    probability of waiting, ASA seconds and occupancy.
    """
    _check_targets(target_sl, threshold_seconds, max_occupancy)
    a = np.atleast_1d(np.asarray(traffic, dtype=np.float64))
    aht = np.broadcast_to(np.asarray(aht_seconds, dtype=np.float64), a.shape)
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise InvalidInput("traffic must be finite and not negative")
    size = a.shape[0]
    agents = np.zeros(size, dtype=np.int64)
    sl = np.ones(size)
    pw = np.zeros(size)
    asa = np.zeros(size)
    occ = np.zeros(size)
    live = np.flatnonzero(a > 0)
    if live.size == 0:
        return agents, sl, pw, asa, occ
    if np.any(aht[live] <= 0):
        raise InvalidInput("handle time must be positive where there is traffic")
    al = a[live]
    ahtl = aht[live]
    n = np.maximum(np.floor(al).astype(np.int64) + 1, _occupancy_floor(al, max_occupancy))
    b = np.exp(_log_erlang_b_above_mean(n, al))
    idx = np.arange(live.size)
    for _ in range(_MAX_STEPS):
        nn = n[idx].astype(np.float64)
        ai = al[idx]
        bi = b[idx]
        c = nn * bi / (nn - ai * (1.0 - bi))
        spare = nn - ai
        sli = 1.0 - c * np.exp(-spare * threshold_seconds / ahtl[idx])
        ok = sli >= target_sl
        done = idx[ok]
        if done.size:
            where = live[done]
            agents[where] = n[done]
            sl[where] = np.clip(sli[ok], 0.0, 1.0)
            pw[where] = c[ok]
            asa[where] = c[ok] * ahtl[done] / spare[ok]
            occ[where] = ai[ok] / nn[ok]
        idx = idx[~ok]
        if idx.size == 0:
            return agents, sl, pw, asa, occ
        n[idx] += 1
        b[idx] = al[idx] * b[idx] / (n[idx] + al[idx] * b[idx])
    raise InvalidInput("no staffing meets the target within a million agents")


def _check_targets(target_sl: float, threshold_seconds: float, max_occupancy: float) -> None:
    if not 0.0 <= target_sl < 1.0:
        raise InvalidInput(f"target service level must be in [0, 1), got {target_sl}")
    if not threshold_seconds >= 0 or math.isinf(threshold_seconds):
        raise InvalidInput(f"threshold must be finite and not negative, got {threshold_seconds}")
    if not 0.0 < max_occupancy <= 1.0:
        raise InvalidInput(f"maximum occupancy must be in (0, 1], got {max_occupancy}")


def raw_agents_erlang_c(
    calls: float,
    interval_seconds: float,
    aht_seconds: float,
    target_sl: float,
    threshold_seconds: float,
    max_occupancy: float = 1.0,
) -> QueueMetrics:
    """The one-interval calculator for voice without abandonment."""
    a = traffic_erlangs(calls, aht_seconds, interval_seconds)
    agents, *_ = solve_erlang_c([a], [aht_seconds], target_sl, threshold_seconds, max_occupancy)
    return erlang_c_metrics(int(agents[0]), a, aht_seconds, threshold_seconds)


# --- Erlang A (M/M/N+M) -------------------------------------------------------------


def erlang_a_metrics(
    agents: int,
    arrival_rate: float,
    aht_seconds: float,
    patience_seconds: float,
    threshold_seconds: float,
) -> QueueMetrics:
    """Steady-state metrics of M/M/N+M: Poisson arrivals, exponential service and patience.

    ``arrival_rate`` is calls per second. Service level counts abandoners as failures.
    """
    if agents < 0:
        raise InvalidInput("agents must not be negative")
    if arrival_rate <= 0:
        return QueueMetrics(agents, 1.0, 0.0, 0.0, 0.0, 0.0)
    if aht_seconds <= 0 or patience_seconds <= 0:
        raise InvalidInput("handle time and patience must be positive")
    a = arrival_rate * aht_seconds
    c = agents * patience_seconds / aht_seconds  # N*mu/theta
    y = arrival_rate * patience_seconds  # lambda/theta
    log_a = math.log(a)
    # Unnormalised log probabilities of states n = 0..N-1 (no wait) ...
    n = np.arange(agents, dtype=np.float64)
    log_free = n * log_a - special.gammaln(n + 1.0)
    # ... and of N + k (k callers waiting): only a window around the most likely queue
    # length, outside which terms are below e^-60 of the peak (so a patience of years or
    # an overloaded queue costs a few thousand terms, not millions).
    log_pn = agents * log_a - math.lgamma(agents + 1.0)
    k_peak = max(0.0, math.ceil(y - c))
    width = 12.0 * math.sqrt(c + k_peak + 1.0) + 60.0
    k_lo = int(max(0.0, k_peak - width))
    k = np.arange(k_lo, int(k_peak + width) + 1, dtype=np.float64)
    log_wait = log_pn + k * math.log(y) - (special.gammaln(c + k + 1.0) - special.gammaln(c + 1.0))
    log_total = float(special.logsumexp(log_wait))
    if agents > 0:
        log_total = float(np.logaddexp(special.logsumexp(log_free), log_total))
    p_wait_states = np.exp(log_wait - log_total)
    pw = float(p_wait_states.sum())
    p_free = 1.0 - pw
    # By PASTA an arrival sees the stationary distribution.
    p_abandon = float(np.sum(p_wait_states * (k + 1.0) / (c + k + 1.0)))
    u = math.exp(-threshold_seconds / patience_seconds)
    if c > 0:
        reach = special.betainc(k + 1.0, c + 1.0, 1.0 - u)  # P(Beta(c+1, k+1) >= u)
        served_in_time = float(np.sum(p_wait_states * c / (c + k + 1.0) * reach))
    else:
        served_in_time = 0.0
    sl = min(1.0, max(0.0, p_free + served_in_time))
    occupancy = a * (1.0 - p_abandon) / agents if agents else 0.0
    return QueueMetrics(
        agents=agents,
        service_level=sl,
        probability_of_waiting=min(1.0, pw),
        asa_seconds=p_abandon * patience_seconds,
        occupancy=min(1.0, occupancy),
        probability_abandon=min(1.0, p_abandon),
    )


def raw_agents_erlang_a(
    calls: float,
    interval_seconds: float,
    aht_seconds: float,
    patience_seconds: float,
    target_sl: float,
    threshold_seconds: float,
    max_occupancy: float = 1.0,
    max_abandon: float | None = None,
) -> QueueMetrics:
    """Fewest agents for M/M/N+M meeting service level, occupancy cap and abandonment cap.

    Every constraint is monotone in the number of agents, so a doubling search followed by
    bisection finds the fewest agents in O(log N) evaluations; it starts at 0, not at the
    load, because with impatient callers fewer agents than erlangs can meet the target.
    """
    _check_targets(target_sl, threshold_seconds, max_occupancy)
    if max_abandon is not None and not 0.0 <= max_abandon <= 1.0:
        raise InvalidInput(f"maximum abandonment must be in [0, 1], got {max_abandon}")
    if calls < 0 or interval_seconds <= 0:
        raise InvalidInput("calls must not be negative and the interval must be positive")
    rate = calls / interval_seconds
    if rate == 0:
        return erlang_a_metrics(0, 0.0, aht_seconds, patience_seconds, threshold_seconds)
    if aht_seconds <= 0 or patience_seconds <= 0:
        raise InvalidInput("handle time and patience must be positive")

    def ok(agents: int) -> tuple[bool, QueueMetrics]:
        m = erlang_a_metrics(agents, rate, aht_seconds, patience_seconds, threshold_seconds)
        good = (
            m.service_level >= target_sl
            and m.occupancy <= max_occupancy * (1.0 + _OCC_SLACK)
            and (max_abandon is None or (m.probability_abandon or 0.0) <= max_abandon)
        )
        return good, m

    good, best = ok(0)
    if good:
        return best
    lo, hi = 0, 1
    while True:
        good, m = ok(hi)
        if good:
            best = m
            break
        lo, hi = hi, hi * 2
        if hi > _MAX_STEPS:
            raise InvalidInput("no staffing meets the target within a million agents")
    while hi - lo > 1:  # invariant: lo fails, hi meets every constraint
        mid = (lo + hi) // 2
        good, m = ok(mid)
        if good:
            hi, best = mid, m
        else:
            lo = mid
    return best


# --- Shrinkage --------------------------------------------------------------------------


def _exact(value: float | str | Decimal | Fraction) -> Fraction:
    """The decimal the user meant: a float goes through its shortest repr (0.1 -> 1/10)."""
    if isinstance(value, float):
        return Fraction(repr(value))
    if isinstance(value, Fraction):
        return value
    return Fraction(value)


def agents_after_shrinkage(raw_agents: int, shrinkage: float | str | Decimal | Fraction) -> int:
    """Fewest M with M * (1 - shrinkage) >= raw_agents, in exact rational arithmetic."""
    s = _exact(shrinkage)
    if not 0 <= s < 1:
        raise InvalidInput(f"shrinkage must be in [0, 1), got {shrinkage}")
    if raw_agents < 0:
        raise InvalidInput("raw agents must not be negative")
    keep = 1 - s
    return -((-raw_agents * keep.denominator) // keep.numerator)


def agents_after_shrinkage_many(
    raw_agents: npt.ArrayLike, shrinkage: float | str | Decimal | Fraction
) -> IntArray:
    """Vectorised :func:`agents_after_shrinkage`: exact, one division per distinct value."""
    raw = np.asarray(raw_agents, dtype=np.int64)
    values, inverse = np.unique(raw, return_inverse=True)
    mapped = np.array([agents_after_shrinkage(int(v), shrinkage) for v in values], dtype=np.int64)
    out: IntArray = mapped[inverse].reshape(raw.shape)
    return out
