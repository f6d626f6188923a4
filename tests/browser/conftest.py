"""Real Chromium (Debian's ``chromium``) driven by Playwright against the real web app.

Each test gets its own app (migrated SQLite, real Redis under its own prefix, a router
and the history consumer running) and its own browser. Screenshots are taken along the
way into a per-test folder; when the test fails, a last screenshot of every open page is
added and the folder is kept under ``test-artifacts/browser/``; otherwise it is removed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from contactcore.testing.api_env import ApiEnv, api_env
from contactcore.testing.browser import CHROMIUM, Shots


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix, with_feed=True, background=True) as e:
        yield e


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make system does it)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """Closed before the app (``env``) stops, so no page holds a socket open meanwhile."""
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def shots(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Shots]:
    folder = tmp_path / "shots"
    folder.mkdir()
    s = Shots(folder)
    yield s
    failed = request.node.stash.get(FAILED, True) or bool(s.page_errors)
    if failed:
        for i, page in enumerate(s.pages):
            if not page.is_closed():
                await s.take(page, f"at-failure-{i}")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        target = Path(request.config.rootpath) / "test-artifacts" / "browser" / name
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, target)
    assert not s.page_errors, f"uncaught JavaScript errors: {s.page_errors}"
