"""A tiny run of bench/wfm_bench.py: it runs and prints its JSON figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "wfm_bench.py"


@pytest.mark.bench
def test_wfm_bench_smoke() -> None:
    r = subprocess.run(
        [sys.executable, str(BENCH), "--queues", "3", "--days", "1"],
        capture_output=True,
        text=True,
        timeout=100,
        check=True,
    )
    out = json.loads(r.stdout)
    assert out["intervals"] == 3 * 96
    assert out["erlang_c_table_seconds"] < 1.0
