"""Run ``contactcore serve`` as the real process it is in production, for e2e tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


REPO = Path(__file__).resolve().parents[3]


@dataclass
class Controller:
    """A running controller; ``env`` is what it was started with."""

    proc: subprocess.Popen[bytes]
    web_url: str
    env: dict[str, str]
    log_path: Path
    database_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def health(self) -> tuple[int, dict[str, Any]]:
        import json

        try:
            with urllib.request.urlopen(self.web_url + "/healthz", timeout=2) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"controller exited {self.proc.returncode}:\n{self.log_text()}"
                )
            try:
                status, body = self.health()
                last = body
                if status == 200:
                    return body
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"controller not healthy in {timeout}s: {last}\n{self.log_text()}")

    def stop(self, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_controller(
    tmp: Path, env_overrides: dict[str, str], web_port: int, *, wait: bool = True
) -> Controller:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTACTCORE_")}
    database_url = f"sqlite:///{tmp / 'contactcore.db'}"
    env.update(
        {
            "CONTACTCORE_CONFIG": str(tmp / "none.toml"),
            "DATABASE_URL": database_url,
            "CONTACTCORE_WEB__PORT": str(web_port),
            "CONTACTCORE_LOG__DIR": str(tmp / "log"),
            "CONTACTCORE_CONTROLLER__SHUTDOWN_GRACE": "10",
            "CONTACTCORE_CONTROLLER__DIALPLANS_DIR": str(REPO / "dialplans"),
        }
    )
    env.update(env_overrides)
    (tmp / "none.toml").write_text("")
    log_path = tmp / "controller.out"
    with log_path.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "contactcore", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    ctl = Controller(proc, f"http://127.0.0.1:{web_port}", env, log_path, database_url)
    if wait:
        ctl.wait_healthy()
    return ctl
