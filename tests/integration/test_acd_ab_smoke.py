"""A tiny run of the interleaved A/B of two engine versions, so that it keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
AB = ROOT / "bench" / "acd_ab.py"


def test_acd_ab_smoke(redis_url: str, redis_prefix: str) -> None:
    out = subprocess.run(
        [sys.executable, str(AB), "--a", "HEAD", "--agents", "50", "--skills", "5",
         "--queues", "4", "--tasks", "300", "--redis-url", redis_url, "--prefix", redis_prefix],
        check=True, capture_output=True, text=True, timeout=100, cwd=ROOT,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["a"]["source"] == "HEAD"
    assert result["b"]["source"].endswith("acd.lua")
    for side in ("a", "b"):
        assert result[side]["decisions"] == 300
        assert result[side]["redis_cpu_us_per_decision_routing"] > 0
        assert result[side]["redis_cpu_us_per_decision_accept_finish"] > 0


def test_acd_ab_refuses_what_is_not_the_engine(redis_url: str, redis_prefix: str) -> None:
    out = subprocess.run(
        [sys.executable, str(AB), "--a", "no-such-revision", "--tasks", "10",
         "--redis-url", redis_url, "--prefix", redis_prefix],
        capture_output=True, text=True, timeout=100, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode != 0
    assert "neither a Lua file nor a git revision" in out.stderr
