"""What end-to-end tests need around a sandbox instance: settings and a SIPp runner.

Used by the ``asterisk_sandbox`` fixture in ``tests/e2e/conftest.py``; importable
by any test (``from contactcore.sandbox.testkit import E2ESandbox``) for annotations
and for tests that run an instance of their own.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from contactcore.sandbox.service import Sandbox
from contactcore.sandbox.sipp import SippResult, run_sipp
from contactcore.settings import Settings, load_settings

SIPP_DIR = Path(__file__).resolve().parents[3] / "tests" / "e2e" / "sipp"


def e2e_settings(slot: int = 0, name: str | None = None) -> Settings:
    """Settings for an e2e instance whose sandbox ports and ``ari.url`` agree.

    Slot 0 is the session instance (``CONTACTCORE_E2E_*``, default ``test`` on SIP
    5062, ARI 8090, RTP 21000-21999). A test that needs an instance of its own takes
    slot N: instance ``<base>-<name or N>``, SIP and ARI ports + 2N, RTP range shifted
    by N range widths. Moving the base ports therefore moves every e2e instance, so two
    test sessions can share a machine.
    """
    env = os.environ
    base_instance = env.get("CONTACTCORE_E2E_INSTANCE", "test")
    sip = int(env.get("CONTACTCORE_E2E_SIP_PORT", "5062")) + 2 * slot
    ari = int(env.get("CONTACTCORE_E2E_ARI_PORT", "8090")) + 2 * slot
    rtp_start = int(env.get("CONTACTCORE_E2E_RTP_START", "21000"))
    rtp_end = int(env.get("CONTACTCORE_E2E_RTP_END", "21999"))
    width = rtp_end - rtp_start + 1
    base = load_settings()
    sandbox = base.sandbox.model_copy(
        update={
            "instance": f"{base_instance}-{name or slot}" if slot else base_instance,
            "sip_port": sip,
            "ari_port": ari,
            "rtp_start": rtp_start + slot * width,
            "rtp_end": rtp_end + slot * width,
        }
    )
    ari_settings = base.ari.model_copy(update={"url": f"http://127.0.0.1:{ari}"})
    return base.model_copy(update={"sandbox": sandbox, "ari": ari_settings})


@dataclass
class E2ESandbox:
    """A running sandbox instance and what a test needs to talk to it.

    - ``settings``: full settings pointing at this instance (hand them to the
      controller under test: ``ari.url``, credentials, app name agree with Asterisk).
    - ``ari_url`` (``http://127.0.0.1:PORT``; REST under ``/ari``), ``ari_ws_url``
      (the event WebSocket for ``ari_app``, credentials in the URL), ``ari_headers``
      (HTTP basic auth for REST calls).
    - ``sip_target``: ``127.0.0.1:SIP_PORT`` for SIPp and softphones.
    - ``run_sipp(...)``: place calls with a scenario from ``tests/e2e/sipp/``
      (``caller_basic.xml``, ``caller_dtmf.xml`` with ``dtmf="5"``,
      ``agent_register.xml`` with ``service="agent1001"`` and ``-au``/``-ap``).
    - ``restart()``: stop and start Asterisk, e.g. to test the controller's reconnect.
    - ``sandbox``: the :class:`Sandbox` itself (``paths.recordings``, ``asterisk_cli``).
    """

    sandbox: Sandbox
    settings: Settings
    trace_root: Path
    _runs: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def ari_url(self) -> str:
        return self.sandbox.config.sandbox_ari_url

    @property
    def ari_username(self) -> str:
        return self.settings.ari.username

    @property
    def ari_password(self) -> str:
        return self.settings.ari.password

    @property
    def ari_app(self) -> str:
        return self.settings.ari.app

    @property
    def ari_headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.ari_username}:{self.ari_password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    @property
    def ari_ws_url(self) -> str:
        host = self.ari_url.removeprefix("http://")
        return (
            f"ws://{host}/ari/events?app={self.ari_app}"
            f"&api_key={self.ari_username}:{self.ari_password}"
        )

    @property
    def sip_port(self) -> int:
        return self.settings.sandbox.sip_port

    @property
    def sip_target(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def restart(self) -> int:
        """Stop and start Asterisk (e.g. to test reconnects); returns the new pid."""
        self.sandbox.down()
        return self.sandbox.up().pid

    def run_sipp(
        self,
        scenario: str | Path,
        *,
        calls: int = 1,
        rate: float = 1.0,
        concurrent: int | None = None,
        service: str = "100",
        caller: str = "5551000",
        dtmf: str | None = None,
        timeout: float = 60.0,
        trace_messages: bool = False,
        extra_args: Sequence[str] = (),
    ) -> SippResult:
        """Run SIPp against this instance; blocking (wrap in ``asyncio.to_thread``).

        ``scenario`` is a file name in ``tests/e2e/sipp/`` or a path. Returns the exit
        code (0: every call succeeded) and the final statistics (``result.successful``,
        ``result.failed``, ``result.stats``); SIPp's error log and statistics file are
        in ``result.trace_dir`` (a fresh directory per run under pytest's tmp dir).
        """
        path = Path(scenario)
        if not path.is_absolute() and not path.exists():
            path = SIPP_DIR / path
        trace_dir = self.trace_root / f"run{next(self._runs):03d}-{path.stem}"
        return run_sipp(
            path,
            target=self.sip_target,
            trace_dir=trace_dir,
            calls=calls,
            rate=rate,
            concurrent=concurrent,
            service=service,
            caller=caller,
            dtmf=dtmf,
            timeout=timeout,
            trace_messages=trace_messages,
            extra_args=extra_args,
        )
