"""A tiny run of the ACD benchmark, so that it keeps working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "acd_bench.py"


@pytest.mark.parametrize("routers", [1, 2])
def test_acd_bench_smoke(redis_prefix: str, routers: int) -> None:
    import json

    out = subprocess.run(
        [sys.executable, str(BENCH), "--agents", "50", "--skills", "5", "--queues", "4",
         "--tasks", "300", "--prefix", redis_prefix, "--routers", str(routers)],
        check=True, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["assigned"] == 300
    assert result["decisions_per_s"] > 0
    # an assignment is a decision and its accept, a full cycle adds the finish: each
    # figure counts the same decisions over more time
    rates = [result[k] for k in ("decisions_per_s", "assignments_per_s", "full_cycle_per_s")]
    if routers == 1:
        assert rates[0] > rates[1] > rates[2] > 0
    else:
        assert rates[0] == rates[1] == rates[2] == result["assignments_per_s_end_to_end"] > 0
    assert result["routing_call_ms"]["p99"] >= result["routing_call_ms"]["p50"] > 0
    assert result["redis_ping_ms"]["p50_ms"] > 0
    assert result["decision_ms"]["p99"] >= result["decision_ms"]["p50"] > 0
    # three single-decision calls, then a batched one, and so on: together they route
    # every task
    singles, batches = result["decision_ms"]["calls"], result["routing_call_ms"]["calls"]
    assert abs(singles - 3 * batches) <= 3 * routers
    assert singles + result["routing_call_ms"]["decisions"] == 300
    redis_side = result["redis_function_time"]
    assert redis_side["function_calls"] >= 3 * (singles + batches)
    assert redis_side["us_per_decision_all"] > 0


def test_acd_bench_repeat_prints_every_run_and_the_median() -> None:
    import json

    out = subprocess.run(
        [sys.executable, str(BENCH), "--agents", "20", "--skills", "3", "--queues", "2",
         "--tasks", "60", "--repeat", "3"],
        check=True, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    result = json.loads(out.stdout)
    runs = result["runs"]
    assert [r["assigned"] for r in runs] == [60, 60, 60]
    figure = result["summary"]["assignments_per_s"]
    values = sorted(r["assignments_per_s"] for r in runs)
    assert figure == {"median": values[1], "min": values[0], "max": values[2]}
    assert result["summary"]["decision_ms.p99"]["median"] > 0
    assert "run 3/3 done" in out.stderr
