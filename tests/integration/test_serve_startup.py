"""`contactcore serve` refuses to start with one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONTACTCORE_")}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    (tmp_path / "empty.toml").write_text("")
    base.update(
        {
            "CONTACTCORE_CONFIG": str(tmp_path / "empty.toml"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
            "CONTACTCORE_LOG__DIR": str(tmp_path / "log"),
            "CONTACTCORE_ARI__URL": "http://127.0.0.1:9",
            "CONTACTCORE_ARI__REQUEST_TIMEOUT": "1",
            "CONTACTCORE_CONTROLLER__DIALPLANS_DIR": str(REPO / "dialplans"),
        }
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "contactcore", "serve"],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_bad_setting_names_the_key(tmp_path: Path) -> None:
    proc = serve(tmp_path, CONTACTCORE_WEB__PORT="http")
    assert proc.returncode == 2
    line = last_line(proc)
    assert "'web.port'" in line
    assert "CONTACTCORE_WEB__PORT" in line


def test_unreachable_redis(tmp_path: Path) -> None:
    proc = serve(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    assert proc.returncode == 3
    line = last_line(proc)
    assert "Redis at redis://127.0.0.1:9/0" in line


def test_unreachable_asterisk(tmp_path: Path, redis_prefix: str) -> None:
    proc = serve(tmp_path, CONTACTCORE_REDIS__KEY_PREFIX=redis_prefix)
    assert proc.returncode == 3
    line = last_line(proc)
    assert "Asterisk ARI at http://127.0.0.1:9/ari" in line
    assert "sandbox status" in line


def test_unreachable_database(tmp_path: Path) -> None:
    proc = serve(tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:9/none")
    assert proc.returncode == 3
    line = last_line(proc)
    assert "127.0.0.1:9" in line
