"""End-to-end fixtures: a real Asterisk sandbox instance for the whole test session.

``asterisk_sandbox`` (session scope) builds the root filesystem if needed (once per
machine, cached), starts sandbox instance ``test`` afresh (one left running is
restarted) on ports of its own so a developer's ``make run`` instance (SIP 5060,
ARI 8088) keeps running beside it, and stops it when the session ends. Override
with environment variables when two test sessions must run at once on one machine:

    CONTACTCORE_E2E_INSTANCE   (default test)
    CONTACTCORE_E2E_SIP_PORT   (default 5062)
    CONTACTCORE_E2E_ARI_PORT   (default 8090)
    CONTACTCORE_E2E_RTP_START  (default 21000)
    CONTACTCORE_E2E_RTP_END    (default 21999)

Tests that need an Asterisk of their own use ``e2e_settings(slot=N)``, whose ports
are derived from these, so moving the base ports moves every e2e instance.

Other settings (ARI user and password, sandbox root, ...) come from the usual
settings file and ``CONTACTCORE_*`` variables. The fixture's value is a
:class:`contactcore.sandbox.testkit.E2ESandbox`: ``settings`` for the controller under
test, ``ari_url`` / ``ari_ws_url`` / ``ari_headers``, ``sip_target`` and
``run_sipp(scenario, calls=, rate=, dtmf=, timeout=, ...)`` returning SIPp's exit code
and statistics (traces under pytest's tmp dir).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from contactcore.sandbox.service import Sandbox, SandboxConfig
from contactcore.sandbox.testkit import E2ESandbox, e2e_settings
from contactcore.testing.voice_platform import PlatformRun

log = logging.getLogger(__name__)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the root filesystem (first run on a machine: about a minute) before any test.

    Done here rather than in the fixture so the build does not count against the
    first test's timeout, and its progress shows on the terminal.
    """
    if session.config.option.collectonly:
        return
    if not any(item.get_closest_marker("e2e") for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def show(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"sandbox: {line}")

    Sandbox(SandboxConfig.from_settings(e2e_settings()), progress=show).ensure_built()


@pytest.fixture(scope="session")
def asterisk_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ESandbox]:
    """A started sandbox instance for the session (see the module docstring)."""
    settings = e2e_settings()
    sandbox = Sandbox(SandboxConfig.from_settings(settings), progress=log.info)
    # An instance left running (a killed session, another checkout) may carry another
    # tree's configuration and state: the session starts its own.
    stale = sandbox.down()
    if stale:
        log.warning(
            "e2e sandbox %s was running (pid %s): restarted", settings.sandbox.instance, stale
        )
    result = sandbox.up()
    log.info("e2e sandbox %s: %s (pid %s)", sandbox.config.instance, result.action, result.pid)
    try:
        yield E2ESandbox(sandbox, settings, tmp_path_factory.mktemp("sipp"))
    finally:
        sandbox.down()


@pytest.fixture
async def voice(
    asterisk_sandbox: E2ESandbox, redis_prefix: str, tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[PlatformRun]:
    """Start the voice platform with ``await voice.start(queue_changes)``; stopped after."""
    run = PlatformRun(asterisk_sandbox, redis_prefix, tmp_path, unused_tcp_port)
    try:
        yield run
    finally:
        await run.stop()
