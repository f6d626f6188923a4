"""Agents required per interval for voice, voice with abandonment, chat and deferred work.

* ``c``: Erlang C (callers wait as long as it takes).
* ``a``: Erlang A, M/M/N+M, with the callers' mean patience (estimated from abandonment
  by the service when not given); the service level counts abandoners as failures.
* ``chat``: an agent works ``concurrency`` chats at once; each chat slot is a server
  with the chat's handle time (measured while concurrent), so slots come from Erlang C
  and agents are slots / concurrency rounded up.
* ``deferred`` (email, tasks): each interval's work (volume x handle time) must be done
  within the response deadline, so it is spread over the intervals of that deadline;
  agents are that work per second divided by the occupancy cap.

Shrinkage is applied last and exactly (:func:`agents_after_shrinkage_many`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from contactcore.errors import InvalidInput
from contactcore.wfm.erlang import (
    agents_after_shrinkage_many,
    raw_agents_erlang_a,
    solve_erlang_c,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Model = Literal["c", "a", "chat", "deferred"]
MODELS: tuple[Model, ...] = ("c", "a", "chat", "deferred")


@dataclass(frozen=True)
class StaffingTargets:
    model: Model = "c"
    target_sl: float = 0.8
    threshold_seconds: float = 20.0
    max_occupancy: float = 1.0
    shrinkage: float | str | Decimal | Fraction = 0.0
    patience_seconds: float | None = None  # Erlang A
    max_abandon: float | None = None  # Erlang A
    concurrency: int = 1  # chat
    deadline_seconds: float | None = None  # deferred

    def check(self) -> None:
        if self.model not in MODELS:
            raise InvalidInput(f"unknown staffing model {self.model!r} (use c, a, chat, deferred)")
        if self.model == "a" and not (self.patience_seconds and self.patience_seconds > 0):
            raise InvalidInput("Erlang A needs a positive patience (seconds)")
        if self.model == "chat" and self.concurrency < 1:
            raise InvalidInput("chat concurrency must be at least 1")
        if self.model == "deferred" and not (self.deadline_seconds and self.deadline_seconds > 0):
            raise InvalidInput("deferred work needs a positive response deadline (seconds)")


@dataclass(frozen=True)
class StaffingResult:
    """Columns of a staffing table, one value per interval (NaN where not applicable)."""

    volume: FloatArray
    aht_seconds: FloatArray
    traffic_erlangs: FloatArray
    raw_agents: IntArray
    agents_after_shrinkage: IntArray
    service_level: FloatArray
    probability_of_waiting: FloatArray
    asa_seconds: FloatArray
    occupancy: FloatArray
    probability_abandon: FloatArray

    def row(self, i: int) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(float(x), 6)

        return {
            "volume": num(self.volume[i]),
            "aht_seconds": num(self.aht_seconds[i]),
            "traffic_erlangs": num(self.traffic_erlangs[i]),
            "raw_agents": int(self.raw_agents[i]),
            "agents_after_shrinkage": int(self.agents_after_shrinkage[i]),
            "service_level": num(self.service_level[i]),
            "probability_of_waiting": num(self.probability_of_waiting[i]),
            "asa_seconds": num(self.asa_seconds[i]),
            "occupancy": num(self.occupancy[i]),
            "probability_abandon": num(self.probability_abandon[i]),
        }


def staff(
    volume: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    interval_seconds: int,
    targets: StaffingTargets,
) -> StaffingResult:
    """Staffing for every interval of a forecast (volume per interval, AHT in seconds)."""
    targets.check()
    vol = np.atleast_1d(np.asarray(volume, dtype=np.float64))
    aht = np.broadcast_to(np.asarray(aht_seconds, dtype=np.float64), vol.shape).copy()
    if np.any(~np.isfinite(vol)) or np.any(vol < 0):
        raise InvalidInput("volumes must be finite and not negative")
    busy = vol > 0
    if np.any(busy & ~(np.isfinite(aht) & (aht > 0))):
        raise InvalidInput("handle time must be known and positive where there is volume")
    aht = np.where(busy, aht, np.where(np.isfinite(aht), aht, 0.0))
    traffic = np.where(busy, vol * aht / interval_seconds, 0.0)
    nan = np.full(vol.shape, np.nan)
    p_ab = nan.copy()
    if targets.model == "c":
        raw, sl, pw, asa, occ = solve_erlang_c(
            traffic,
            np.where(busy, aht, 1.0),
            targets.target_sl,
            targets.threshold_seconds,
            targets.max_occupancy,
        )
    elif targets.model == "chat":
        raw, sl, pw, asa, occ = _chat(traffic, aht, busy, targets)
    elif targets.model == "a":
        raw, sl, pw, asa, occ, p_ab = _erlang_a(vol, aht, interval_seconds, targets)
    else:
        raw, occ = _deferred(traffic, interval_seconds, targets)
        sl = np.where(busy, 1.0, 1.0)
        pw, asa = nan.copy(), nan.copy()
    after = agents_after_shrinkage_many(raw, targets.shrinkage)
    return StaffingResult(vol, aht, traffic, raw, after, sl, pw, asa, occ, p_ab)


def _chat(
    traffic: FloatArray, aht: FloatArray, busy: npt.NDArray[np.bool_], t: StaffingTargets
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    from contactcore.wfm.erlang import erlang_c_metrics

    slots, *_ = solve_erlang_c(
        traffic, np.where(busy, aht, 1.0), t.target_sl, t.threshold_seconds, t.max_occupancy
    )
    agents = -(-slots // t.concurrency)
    size = traffic.shape[0]
    sl, pw, asa, occ = np.ones(size), np.zeros(size), np.zeros(size), np.zeros(size)
    for i in np.flatnonzero(busy):
        m = erlang_c_metrics(
            int(agents[i]) * t.concurrency, traffic[i], aht[i], t.threshold_seconds
        )
        sl[i], pw[i], asa[i], occ[i] = (
            m.service_level,
            m.probability_of_waiting,
            m.asa_seconds,
            m.occupancy,
        )
    return agents.astype(np.int64), sl, pw, asa, occ


def _erlang_a(
    vol: FloatArray, aht: FloatArray, interval_seconds: int, t: StaffingTargets
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    size = vol.shape[0]
    raw = np.zeros(size, dtype=np.int64)
    sl, pw, asa, occ, pab = (
        np.ones(size),
        np.zeros(size),
        np.zeros(size),
        np.zeros(size),
        np.zeros(size),
    )
    assert t.patience_seconds is not None
    cache: dict[tuple[float, float], tuple[int, float, float, float, float, float]] = {}
    for i in np.flatnonzero(vol > 0):
        key = (float(vol[i]), float(aht[i]))
        hit = cache.get(key)
        if hit is None:
            m = raw_agents_erlang_a(
                key[0],
                interval_seconds,
                key[1],
                t.patience_seconds,
                t.target_sl,
                t.threshold_seconds,
                t.max_occupancy,
                t.max_abandon,
            )
            hit = cache[key] = (
                m.agents,
                m.service_level,
                m.probability_of_waiting,
                m.asa_seconds,
                m.occupancy,
                m.probability_abandon or 0.0,
            )
        raw[i] = hit[0]
        sl[i], pw[i], asa[i], occ[i], pab[i] = hit[1:]
    return raw, sl, pw, asa, occ, pab


def _deferred(
    traffic: FloatArray, interval_seconds: int, t: StaffingTargets
) -> tuple[IntArray, FloatArray]:
    assert t.deadline_seconds is not None
    window = max(1, math.ceil(t.deadline_seconds / interval_seconds))
    # Work of interval i is done evenly over intervals i .. i+window-1.
    spread = np.convolve(traffic / window, np.ones(window))[: traffic.shape[0]]
    need = spread / t.max_occupancy
    raw = np.ceil(need - 1e-9).astype(np.int64)
    raw = np.maximum(raw, 0)
    occ = np.where(raw > 0, spread / np.maximum(raw, 1), 0.0)
    return raw, occ
