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
