"""A tiny run of the API benchmark, so that it keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_bench.py"


def test_api_bench_smoke(redis_prefix: str, redis_url: str) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "5", "--prefix", redis_prefix,
         "--redis-url", redis_url],
        check=True, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["get_me_ms"]["p99"] >= result["get_me_ms"]["p50"] > 0
    assert result["put_queue_open_audited_ms"]["p50"] > 0
