"""A tiny run of the voice load benchmark (bench/voice_load.py), so that it keeps working."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from contactcore.sandbox.testkit import E2ESandbox

pytestmark = [pytest.mark.e2e, pytest.mark.bench]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "voice_load.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("voice_load", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_voice_load_smoke(
    asterisk_sandbox: E2ESandbox, redis_prefix: str, tmp_path: Path, unused_tcp_port: int
) -> None:
    bench = load_bench()
    result = await bench.run_load(
        asterisk_sandbox,
        tmp_path,
        callers=4,
        agents=2,
        rate=4.0,
        talk_ms=1000,
        redis_prefix=redis_prefix,
        web_port=unused_tcp_port,
    )
    print(json.dumps(result))
    calls = result["calls"]
    assert (calls["successful"], calls["failed"]) == (4, 0), result
    assert calls["agent_phone_exit"] == 0
    assert calls["outcomes"] == {"answered": 4}
    assert result["dtmf_events"] == 8  # two keys per caller
    prompts_failed = [m for m in result["playbacks_failed"] if m.startswith("sound:contactcore/")]
    assert not prompts_failed, "the flow's prompts are missing: run 'contactcore flows prompts'"
    delays = result["dtmf_to_prompt_ms"]
    assert delays["samples"] >= 4  # at least the invalid key's prompt, for every caller
    assert 0 < delays["p50"] <= delays["p95"] <= delays["p99"] < 5000
    assert calls["not_answered"] == 0
    assert delays["by_key"]["9"]["samples"] == 4  # every invalid key is answered by a prompt
    assert set(delays["by_key"]) <= {"9", "1"}
    assert result["machine"]["cpus"] >= 1
    assert result["controller_cpu_s_per_call"] > 0
