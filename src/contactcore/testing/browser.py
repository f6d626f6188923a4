"""Helpers of the browser tests: screenshots kept per test, a logged-in page.

Real Chromium from Debian (``/usr/bin/chromium``) driven by Playwright; Playwright's own
browser download is never used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from contactcore.testing.api_env import ApiEnv

CHROMIUM = "/usr/bin/chromium"
# generous: the machine is shared and has two cores
expect.set_options(timeout=20_000)


@dataclass
class Shots:
    folder: Path
    pages: list[Page] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught JavaScript errors
    n: int = 0

    async def take(self, page: Page, name: str) -> None:
        self.n += 1
        await page.screenshot(path=str(self.folder / f"{self.n:02d}-{name}.png"), full_page=True)


async def open_page(browser: Browser, env: ApiEnv, shots: Shots, path: str, username: str) -> Page:
    """A fresh browser profile (its own cookies) on ``path``, logged in as ``username``."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda exc: shots.page_errors.append(f"{path}: {exc}"))
    shots.pages.append(page)
    await page.goto(str(env.client.make_url(path)))
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(f"demo-{username}")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#link")).to_have_text("● live")
    assert not shots.page_errors, shots.page_errors
    return page
