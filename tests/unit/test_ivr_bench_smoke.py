"""A tiny run of bench/ivr_runner.py: it works and prints its JSON figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ivr_runner.py"


def test_ivr_runner_bench_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "40", "--concurrency", "10"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    figures = json.loads(out)
    assert figures["calls"] == 40
    assert figures["failed"] == 0
    assert figures["key_to_prompt_samples"] > 0
    assert figures["key_to_prompt_p99_ms"] < 50
