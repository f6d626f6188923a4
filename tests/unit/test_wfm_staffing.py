"""Staffing tables for each model, the service that builds them, and the chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from fractions import Fraction

import numpy as np
import pytest

from contactcore.errors import InvalidInput, NotFound
from contactcore.wfm.erlang import raw_agents_erlang_a, raw_agents_erlang_c
from contactcore.wfm.generator import DemoQueue, generate
from contactcore.wfm.memory import MemoryHistory, MemoryIntervalStore
from contactcore.wfm.service import WfmConfig, WfmService
from contactcore.wfm.staffing import StaffingTargets, staff


def test_erlang_c_table_matches_the_calculator() -> None:
    vol = np.array([0.0, 100.0, 250.0, 37.5])
    aht = np.array([np.nan, 180.0, 240.0, 300.0])
    t = StaffingTargets("c", 0.8, 20, 0.85, "0.3")
    res = staff(vol, aht, 1800, t)
    assert res.raw_agents[0] == 0
    assert res.agents_after_shrinkage[0] == 0
    for i in (1, 2, 3):
        m = raw_agents_erlang_c(vol[i], 1800, aht[i], 0.8, 20, 0.85)
        assert res.raw_agents[i] == m.agents
        assert res.service_level[i] == pytest.approx(m.service_level)
        after = int(res.agents_after_shrinkage[i])
        assert after * (1 - Fraction("0.3")) >= m.agents > (after - 1) * (1 - Fraction("0.3"))
    assert res.row(1)["raw_agents"] == 14
    assert res.row(1)["agents_after_shrinkage"] == 20
    assert res.row(0)["probability_abandon"] is None


def test_erlang_a_table() -> None:
    res = staff([300.0, 0.0], [240.0, 240.0], 1800, StaffingTargets("a", 0.8, 30, 1.0, 0, 90))
    m = raw_agents_erlang_a(300, 1800, 240, 90, 0.8, 30)
    assert res.raw_agents.tolist() == [m.agents, 0]
    assert res.probability_abandon[0] == pytest.approx(m.probability_abandon)


def test_chat_concurrency_divides_slots() -> None:
    one = staff([200.0], [600.0], 1800, StaffingTargets("chat", 0.8, 60, concurrency=1))
    three = staff([200.0], [600.0], 1800, StaffingTargets("chat", 0.8, 60, concurrency=3))
    slots = int(one.raw_agents[0])
    assert three.raw_agents[0] == -(-slots // 3)
    assert three.service_level[0] >= 0.8


def test_deferred_work_spreads_over_the_deadline() -> None:
    vol = np.array([90.0, 0.0, 0.0, 0.0])  # 90 emails x 600 s in the first half hour
    t = StaffingTargets("deferred", max_occupancy=1.0, deadline_seconds=7200)
    res = staff(vol, [600.0] * 4, 1800, t)
    # 54,000 s of work over 4 half hours = 7.5 agents in each
    assert res.raw_agents.tolist() == [8, 8, 8, 8]
    tight = staff(vol, [600.0] * 4, 1800, StaffingTargets("deferred", deadline_seconds=1800))
    assert tight.raw_agents.tolist() == [30, 0, 0, 0]


def test_bad_targets() -> None:
    with pytest.raises(InvalidInput):
        staff([1.0], [1.0], 900, StaffingTargets("a"))  # no patience
    with pytest.raises(InvalidInput):
        staff([1.0], [np.nan], 900, StaffingTargets("c"))  # volume without handle time
    with pytest.raises(InvalidInput):
        staff([1.0], [1.0], 900, StaffingTargets("deferred"))


@pytest.fixture(scope="module")
def demo_items():  # type: ignore[no-untyped-def]
    return generate(
        [DemoQueue("sales", daily_volume=900, patience_seconds=120)], date(2026, 8, 3), 28
    )


async def test_service_plan_as_plain_data_and_svg(demo_items) -> None:  # type: ignore[no-untyped-def]
    store = MemoryIntervalStore()
    svc = WfmService(store, MemoryHistory(demo_items), WfmConfig(interval_seconds=900))
    start = demo_items[0].offered_at
    await svc.rebuild(start, demo_items[-1].offered_at + 1)
    plan = await svc.staffing("sales", None, 2, StaffingTargets("a", 0.8, 20, 0.9, "0.35"))
    # patience estimated from abandonment in the history
    assert plan.targets.patience_seconds == pytest.approx(120, rel=0.25)
    data = plan.to_data()
    assert data["queue_id"] == "sales"
    assert len(data["intervals"]) == 2 * 96
    assert data["intervals"][0]["start"] == "2026-08-31T00:00:00"
    busy = [r for r in data["intervals"] if r["volume"]]
    assert busy
    assert all(r["agents_after_shrinkage"] >= r["raw_agents"] for r in busy)
    assert all(r["service_level"] >= 0.8 for r in busy)
    assert all(r["probability_abandon"] is not None for r in busy)
    svg = plan.svg()
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert svg.count("<rect") == 2 * 96
    fc = await svc.forecast("sales", date(2026, 9, 2), 1)
    assert fc.first_day == date(2026, 9, 2)
    with pytest.raises(NotFound):
        await svc.forecast("nobody", None, 1)
