"""The ``contactcore wfm`` commands as planners and scripts run them.

The contract checks run a real process; the longer workflows call the same entry point
in-process (``contactcore.cli.main``), which saves the interpreter start-up per command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from contactcore.cli import main

pytestmark = pytest.mark.integration


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        if cwd is not None:
            monkeypatch.chdir(cwd)
        try:
            code = main(["wfm", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run


def cc(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contactcore", "wfm", *args],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )


ERLANG = [
    "erlang", "--calls", "100", "--interval-seconds", "1800", "--aht-seconds", "180",
    "--target-sl", "0.8", "--threshold-seconds", "20",
]  # fmt: skip


def test_erlang_c_json_contract() -> None:
    r = cc(*ERLANG, "--max-occupancy", "0.85", "--shrinkage", "0.3", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["traffic_erlangs"] == 10.0
    assert out["raw_agents"] == 14
    assert out["agents_after_shrinkage"] == 20
    assert out["service_level"] == pytest.approx(0.88835, abs=1e-5)
    assert out["probability_of_waiting"] == pytest.approx(0.17413, abs=1e-5)
    assert out["asa_seconds"] == pytest.approx(7.836, abs=1e-3)
    assert out["occupancy"] == pytest.approx(10 / 14)
    assert "probability_abandon" not in out


def test_erlang_a_json_contract_and_exact_shrinkage(run: Callable[..., Result]) -> None:
    r = run(*ERLANG, "--model", "a", "--patience-seconds", "120", "--shrinkage", "0.3",
           "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {
        "traffic_erlangs", "raw_agents", "agents_after_shrinkage", "service_level",
        "probability_of_waiting", "asa_seconds", "occupancy", "probability_abandon",
    }  # fmt: skip
    assert out["service_level"] >= 0.8
    assert 0 < out["probability_abandon"] < 0.2
    # 21 raw agents at 30 % shrinkage: 30 exactly (a float ceiling gives 31)
    r = run("erlang", "--calls", "170", "--interval-seconds", "1800", "--aht-seconds", "180",
           "--target-sl", "0.8", "--threshold-seconds", "20", "--shrinkage", "0.3",
           "--format", "json")  # fmt: skip
    out = json.loads(r.stdout)
    assert out["raw_agents"] == 21
    assert out["agents_after_shrinkage"] == 30


def test_zero_calls_need_zero_agents(run: Callable[..., Result]) -> None:
    r = run("erlang", "--calls", "0", "--interval-seconds", "900", "--aht-seconds", "300",
           "--target-sl", "0.9", "--threshold-seconds", "10", "--format", "json")  # fmt: skip
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert (out["raw_agents"], out["agents_after_shrinkage"]) == (0, 0)


@pytest.mark.parametrize(
    "change",
    [
        ["--calls", "-5"],
        ["--calls", "many"],
        ["--target-sl", "1.5"],
        ["--shrinkage", "1"],
        ["--max-occupancy", "0"],
        ["--interval-seconds", "0"],
        ["--model", "a"],  # needs --patience-seconds
        ["--format", "xml"],
        ["--calls", "nan"],
    ],
)
def test_bad_argument_is_one_line_and_status_2(
    change: list[str], run: Callable[..., Result]
) -> None:
    args = list(ERLANG)
    if change[0] in args:
        i = args.index(change[0])
        args[i + 1] = change[1]
    else:
        args += change
    r = run(*args, "--format", "json") if "--format" not in change else run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_missing_argument_is_one_line(run: Callable[..., Result]) -> None:
    r = run("erlang", "--calls", "10", "--format", "json")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "--interval-seconds" in r.stderr


def test_bad_argument_from_a_real_process() -> None:
    r = cc(*ERLANG[:2], "-3", *ERLANG[3:], "--format", "json")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "contactcore wfm erlang: argument --calls: must be >= 0, got -3 (see --help)"
    ]


def test_help_explains() -> None:
    r = cc("erlang", "--help")
    assert r.returncode == 0
    assert "agents_after_shrinkage" in r.stdout
    assert "--patience-seconds" in r.stdout


def test_generate_backtest_import_rebuild_staffing(
    tmp_path: Path, run: Callable[..., Result]
) -> None:
    gen = tmp_path / "history.csv"
    inter = tmp_path / "interactions.csv"
    r = run("generate", "--out", str(gen), "--interactions", str(inter), "--days", "49",
           "--start", "2026-08-03", "--daily-volume", "800")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run("backtest", "--csv", str(gen), "--time-column", "start", "--count-column", "offered",
           "--aht-column", "aht_seconds", "--horizon-days", "7", "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    bt = json.loads(r.stdout)
    assert {"model", "wape", "baseline_wape"} <= set(bt)
    assert bt["wape"] < bt["baseline_wape"]
    assert "statsmodels" in bt["model"]

    store = tmp_path / "intervals.csv"
    r = run("import", "--csv", str(gen), "--aht-column", "aht_seconds", "--queue", "legacy",
           "--store", str(store))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run("rebuild", "--interactions", str(inter), "--store", str(store))
    assert r.returncode == 0, r.stderr
    svg = tmp_path / "plan.svg"
    r = run("staffing", "--queue", "sales", "--store", str(store), "--days", "1", "--model", "a",
           "--shrinkage", "0.3", "--svg", str(svg), "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert len(plan["intervals"]) == 96
    assert plan["targets"]["patience_seconds"] > 0
    assert svg.read_text().startswith("<svg")
    r = run("staffing", "--queue", "legacy", "--store", str(store), "--days", "1",
           "--format", "csv")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("start,volume,aht_seconds,traffic_erlangs")
    assert len(r.stdout.splitlines()) == 97
    r = run("forecast", "--csv", str(gen), "--aht-column", "aht_seconds", "--days", "1",
           "--format", "table")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "volume" in r.stdout.splitlines()[0]


def test_backtest_bad_column_is_one_line(tmp_path: Path, run: Callable[..., Result]) -> None:
    f = tmp_path / "x.csv"
    f.write_text("when,n\n2026-01-01T00:00:00,1\n")
    r = run("backtest", "--csv", str(f), "--time-column", "time", "--count-column", "n",
           "--horizon-days", "7", "--format", "json")  # fmt: skip
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no column 'time'" in r.stderr


def test_store_and_interval_come_from_settings(tmp_path: Path, run: Callable[..., Result]) -> None:
    gen = tmp_path / "h.csv"
    assert run("generate", "--out", str(gen), "--days", "21", "--start", "2026-03-02",
              "--interval-seconds", "1800").returncode == 0  # fmt: skip
    store = tmp_path / "configured.csv"
    env = {"CONTACTCORE_WFM__STORE": str(store), "CONTACTCORE_WFM__INTERVAL_SECONDS": "1800"}
    r = run("import", "--csv", str(gen), "--aht-column", "aht_seconds", "--queue", "q", env=env,
           cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert store.exists()
    r = run("forecast", "--queue", "q", "--days", "1", "--format", "csv", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1 + 48
    bad = {"CONTACTCORE_WFM__INTERVAL_SECONDS": "7"}
    r = run("forecast", "--queue", "q", "--days", "1", env=bad, cwd=tmp_path)
    assert r.returncode == 2
    assert "interval_seconds" in r.stderr


def test_commands_use_the_configured_database(
    tmp_path: Path, database_url: str, run: Callable[..., Result]
) -> None:
    env = {"DATABASE_URL": database_url}
    up = subprocess.run(
        [sys.executable, "-m", "contactcore", "db", "upgrade"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
        timeout=110,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    gen = tmp_path / "h.csv"
    inter = tmp_path / "i.csv"
    r = run("generate", "--out", str(gen), "--interactions", str(inter), "--days", "21",
           "--start", "2026-03-02", "--queues", "q_db")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run("rebuild", "--interactions", str(inter), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run("import", "--csv", str(gen), "--aht-column", "aht_seconds", "--queue", "q_legacy",
           env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    for queue in ("q_db", "q_legacy"):
        r = run("staffing", "--queue", queue, "--days", "1", "--shrinkage", "0.25",
               "--format", "json", env=env, cwd=tmp_path)  # fmt: skip
        assert r.returncode == 0, r.stderr
        plan = json.loads(r.stdout)
        assert len(plan["intervals"]) == 96
        assert max(i["agents_after_shrinkage"] for i in plan["intervals"]) > 0
    # rebuilding from the (empty) recorded interactions keeps both queues' statistics
    r = run("rebuild", "--from", "2026-03-02", "--to", "2026-03-23", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run("forecast", "--queue", "q_legacy", "--days", "1", "--format", "csv", env=env,
           cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_demo_seed_gives_planners_a_history(
    tmp_path: Path,
    sqlite_url: str,
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("CONTACTCORE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "seed"]) == 0
    assert "planning intervals of history" in capsys.readouterr().out
    assert main(["demo", "seed"]) == 0
    assert "; 0 planning intervals" in capsys.readouterr().out  # not generated twice
    r = run("staffing", "--queue", "general", "--days", "1", "--model", "a", "--format", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["queue_id"] == "general"
    assert max(i["agents_after_shrinkage"] for i in plan["intervals"]) > 0
