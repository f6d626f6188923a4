"""The desktop and console pages and their files are served, same-origin only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix) as e:
        yield e


@pytest.mark.parametrize(
    ("path", "type_", "contains"),
    [
        ("/desktop", "text/html", '<script type="module" src="/static/desktop.js">'),
        ("/console", "text/html", '<script type="module" src="/static/console.js">'),
        ("/static/common.js", "javascript", "X-CSRF-Token"),
        ("/static/app.css", "text/css", "[hidden]"),
    ],
)
async def test_pages_are_served_without_logging_in(
    env: ApiEnv, path: str, type_: str, contains: str
) -> None:
    resp = await env.client.get(path)
    assert resp.status == 200
    assert type_ in resp.headers["Content-Type"]
    assert contains in await resp.text()
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_home_leads_to_the_desktop_and_unknown_files_are_404(env: ApiEnv) -> None:
    resp = await env.client.get("/", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/desktop")
    assert (await env.client.get("/static/nothing.js")).status == 404
    assert (await env.client.get("/static/../api.py")).status in (403, 404)
