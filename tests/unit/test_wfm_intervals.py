"""Interval statistics from interactions, kept up to date incrementally, and rebuilt."""

from __future__ import annotations

from datetime import date

import pytest

from contactcore.core.wfm import InteractionSummary
from contactcore.wfm.generator import DemoQueue, generate
from contactcore.wfm.intervals import compute, estimate_patience
from contactcore.wfm.memory import MemoryHistory, MemoryIntervalStore
from contactcore.wfm.service import WfmConfig, WfmService

T0 = 1_788_000_000.0 - (1_788_000_000.0 % 900)


def _calls() -> list[InteractionSummary]:
    return [
        # answered after 5 s: 100 talk + 10 hold + 20 wrap
        InteractionSummary("q", "voice", T0 + 10, T0 + 15, None, 100, 10, 20),
        # answered after 40 s (outside a 20 s threshold)
        InteractionSummary("q", "voice", T0 + 100, T0 + 140, None, 200, 0, 30),
        # abandoned after 60 s
        InteractionSummary("q", "voice", T0 + 200, None, T0 + 260),
        # next interval
        InteractionSummary("q", "voice", T0 + 900, T0 + 901, None, 50, 0, 10),
        # email: offered in the first interval, answered two hours later
        InteractionSummary("q", "email", T0 + 30, T0 + 7230, None, 300, 0, 0),
        InteractionSummary("q", "email", T0 + 950, None, None),  # still open
    ]


def test_counts_aht_abandon_and_backlog() -> None:
    rows = compute(_calls(), 900, 20)
    by = {(r.channel, r.start): r for r in rows}
    v0 = by[("voice", T0)]
    assert (v0.offered, v0.answered, v0.abandoned, v0.answered_in_sl) == (3, 2, 1, 1)
    assert v0.aht_seconds == pytest.approx((130 + 230) / 2)
    assert v0.average_time_to_abandon == pytest.approx(60)
    assert v0.backlog == 0  # voice has no backlog
    assert by[("voice", T0 + 900)].offered == 1
    e0, e1 = by[("email", T0)], by[("email", T0 + 900)]
    assert e0.backlog == 1  # the first email is open at the end of its interval
    assert e1.backlog == 2  # both are open at T0 + 1800
    assert e1.answered == 0


async def test_incremental_updates_equal_a_rebuild() -> None:
    calls = [c for c in _calls() if c.channel == "voice"]
    config = WfmConfig(interval_seconds=900, threshold_seconds=20)
    live_store = MemoryIntervalStore()
    live = WfmService(live_store, None, config)
    for c in calls:
        await live.record(c)
    rebuilt_store = MemoryIntervalStore()
    rebuilt = WfmService(rebuilt_store, MemoryHistory(calls), config)
    assert await rebuilt.rebuild(T0, T0 + 3600) == 2
    assert live_store.rows == rebuilt_store.rows
    # a rebuild replaces, it does not add twice
    await rebuilt.rebuild(T0, T0 + 3600)
    assert live_store.rows == rebuilt_store.rows


async def test_rebuild_keeps_queues_without_interactions() -> None:
    config = WfmConfig()
    store = MemoryIntervalStore()
    calls = [c for c in _calls() if c.channel == "voice"]
    imported = compute([InteractionSummary("old", "voice", T0 + 5, T0 + 6)], 900, 20)
    await store.add(imported)
    await WfmService(store, MemoryHistory(calls), config).rebuild(T0, T0 + 3600)
    assert ("old", "voice") in await store.queues()


def test_patience_estimate_from_abandonment() -> None:
    q = DemoQueue("p", daily_volume=3000, patience_seconds=150)
    items = generate([q], date(2026, 3, 2), 7, seed=5)
    rows = compute(items, 900, 20)
    est = estimate_patience(rows)
    assert est is not None
    assert est == pytest.approx(150, rel=0.15)
    assert estimate_patience(compute(_calls()[:2], 900, 20)) is None
