"""Login, logout, CSRF, bearer tokens and slowed-down failed logins."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix) as e:
        yield e


async def test_login_sets_a_strict_http_only_cookie_and_returns_a_csrf_token(
    sqlite_url: str, redis_url: str, redis_prefix: str
) -> None:
    async with api_env(sqlite_url, redis_url, redis_prefix, cookie_secure=True) as env:
        resp = await env.client.post(
            "/api/v1/auth/login", json={"username": "agent1001", "password": "demo-agent1001"}
        )
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("cc_session=")
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            assert flag in cookie
        body = await resp.json()
        assert len(body["csrf_token"]) >= 40
        assert body["user"]["username"] == "agent1001"
        assert body["user"]["role"] == "agent"


async def test_session_cookie_without_secure_flag_when_configured(env: ApiEnv) -> None:
    resp = await env.client.post(
        "/api/v1/auth/login", json={"username": "agent1001", "password": "demo-agent1001"}
    )
    assert "Secure" not in resp.headers["Set-Cookie"]
    me = await env.client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["id"] == env.ids["agent1001"]


async def test_changes_with_the_cookie_need_the_csrf_token(env: ApiEnv) -> None:
    csrf = (await env.login("agent1002"))["csrf_token"]
    path = f"/api/v1/agents/{env.ids['agent1002']}/presence"
    body = {"presence": "available"}
    missing = await env.client.put(path, json=body)
    assert missing.status == 403
    assert (await missing.json())["error"] == "csrf"
    wrong = await env.client.put(path, json=body, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status == 403
    ok = await env.client.put(path, json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200, await ok.text()
    # reads need no token
    assert (await env.client.get("/api/v1/me")).status == 200


async def test_logout_ends_the_session(env: ApiEnv) -> None:
    csrf = (await env.login("supervisor"))["csrf_token"]
    cookie = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["cc_session"]
    out = await env.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status == 200
    assert (await env.client.get("/api/v1/me")).status == 401
    # the old cookie, replayed, is dead too
    replay = await env.client.get("/api/v1/me", cookies={"cc_session": cookie.value})
    assert replay.status == 401


async def test_logout_without_csrf_token_is_refused(env: ApiEnv) -> None:
    await env.login("supervisor")
    assert (await env.client.post("/api/v1/auth/logout")).status == 403
    assert (await env.client.get("/api/v1/me")).status == 200


async def test_bearer_tokens_work_without_cookie_or_csrf_and_are_stored_hashed(
    env: ApiEnv,
) -> None:
    token = await env.token("supervisor")
    assert not env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))
    auth = {"Authorization": f"Bearer {token}"}
    me = await env.client.get("/api/v1/me", headers=auth)
    assert me.status == 200
    assert (await me.json())["role"] == "supervisor"
    opened = await env.client.put("/api/v1/queues/general/open", json={"open": True}, headers=auth)
    assert opened.status == 200
    async with env.db.engine.connect() as conn:
        from sqlalchemy import text

        stored = [
            r[0] for r in await conn.execute(text("SELECT secret_hash FROM auth_credentials"))
        ]
    assert token not in stored
    assert all(len(h) == 64 for h in stored)
    for bad in (f"Bearer {token}x", "Bearer ", "Basic abc", token):
        resp = await env.client.get("/api/v1/me", headers={"Authorization": bad})
        assert resp.status == 401, bad
    # a token revoked by logout is dead
    assert (await env.client.post("/api/v1/auth/logout", headers=auth)).status == 200
    assert (await env.client.get("/api/v1/me", headers=auth)).status == 401


async def test_expired_sessions_are_refused(env: ApiEnv) -> None:
    await env.login("agent1003")
    assert (await env.client.get("/api/v1/me")).status == 200
    env.clock.advance(13 * 3600)
    assert (await env.client.get("/api/v1/me")).status == 401


async def test_unauthenticated_requests_get_401(env: ApiEnv) -> None:
    for method, path in (
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/queues"),
        ("GET", "/api/v1/openapi.json"),
        ("PUT", "/api/v1/queues/general/open"),
        ("POST", "/api/v1/auth/tokens"),
    ):
        resp = await env.client.request(method, path, json={"open": False})
        assert resp.status == 401, (method, path)
        assert (await resp.json())["error"] == "unauthenticated"


async def test_failed_logins_are_slowed_down_per_username_and_logged(
    env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {"username": "agent1004", "password": "wrong"}
    with caplog.at_level(logging.WARNING, logger="contactcore.web.api"):
        for _ in range(3):
            resp = await env.client.post("/api/v1/auth/login", json=bad)
            assert resp.status == 401
        # locked now: even the right password is refused until the delay has passed
        good = {"username": "agent1004", "password": "demo-agent1004"}
        locked = await env.client.post("/api/v1/auth/login", json=good)
        assert locked.status == 429
        assert int(locked.headers["Retry-After"]) >= 1
    assert sum("login failed for agent1004" in r.getMessage() for r in caplog.records) == 3
    assert any("login refused for agent1004" in r.getMessage() for r in caplog.records)
    env.clock.advance(1.1)
    # each further failure doubles the delay
    assert (await env.client.post("/api/v1/auth/login", json=bad)).status == 401
    env.clock.advance(1.1)
    assert (await env.client.post("/api/v1/auth/login", json=good)).status == 429
    env.clock.advance(1.0)
    assert (await env.client.post("/api/v1/auth/login", json=good)).status == 200


async def test_failed_logins_are_slowed_down_per_client_address(env: ApiEnv) -> None:
    """Spraying many usernames from one address locks that address (after more tries)."""
    good = {"username": "agent1005", "password": "demo-agent1005"}
    for n in range(20):
        resp = await env.client.post(
            "/api/v1/auth/login", json={"username": f"nobody{n}", "password": "x"}
        )
        assert resp.status == 401, n
        if n == 10:  # a good login meanwhile does not reset the address's count
            assert (await env.client.post("/api/v1/auth/login", json=good)).status == 200
    resp = await env.client.post("/api/v1/auth/login", json=good)
    assert resp.status == 429
    env.clock.advance(1.5)
    assert (await env.client.post("/api/v1/auth/login", json=good)).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "agent1001"}, "password"),
        ({"username": "", "password": "x"}, "username"),
        ({"username": 5, "password": "x"}, "username"),
        ({"username": "a", "password": "x", "admin": True}, "admin"),
    ],
)
async def test_bad_login_bodies_name_the_field(
    env: ApiEnv, body: dict[str, object], field: str
) -> None:
    resp = await env.client.post("/api/v1/auth/login", json=body)
    assert resp.status == 400
    assert (await resp.json())["message"].startswith(field)


async def test_login_body_that_is_not_json(env: ApiEnv) -> None:
    resp = await env.client.post("/api/v1/auth/login", data=b"{nope")
    assert resp.status == 400
    assert (await resp.json())["message"].startswith("body")
