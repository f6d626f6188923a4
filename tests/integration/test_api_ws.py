"""The live WebSocket: routing events from the Redis stream, filtered by role."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix, with_feed=True) as e:
        yield e


async def next_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(5):
        msg = await ws.receive_json()
    assert msg["type"] == "event"
    event: dict[str, Any] = msg["event"]
    return event


async def test_supervisors_get_every_event_agents_only_their_own(env: ApiEnv) -> None:
    sup_token = await env.token("supervisor")
    await env.login("agent1001")  # the agent's socket authenticates with the session cookie
    me, other = env.ids["agent1001"], env.ids["agent1002"]
    sup_ws = await env.client.ws_connect(
        "/api/v1/ws", headers={"Authorization": f"Bearer {sup_token}"}
    )
    agent_ws = await env.client.ws_connect("/api/v1/ws")
    for ws, role in ((sup_ws, "supervisor"), (agent_ws, "agent")):
        async with asyncio.timeout(5):
            hello = await ws.receive_json()
        assert (hello["type"], hello["role"]) == ("hello", role)

    sup = {"Authorization": f"Bearer {sup_token}"}
    for aid in (other, me):
        resp = await env.client.put(
            f"/api/v1/agents/{aid}/presence", json={"presence": "available"}, headers=sup
        )
        assert resp.status == 200

    first = await next_event(sup_ws)
    assert first["agent_id"] == other
    seen = {first["agent_id"]}
    while me not in seen:
        seen.add((await next_event(sup_ws))["agent_id"])

    mine = await next_event(agent_ws)
    assert mine["agent_id"] == me  # the events about agent1002 never reached this socket
    assert mine["type"].startswith("agent.")
    await sup_ws.close()
    await agent_ws.close()


async def test_websocket_needs_authentication(env: ApiEnv) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await env.client.ws_connect("/api/v1/ws")
    assert err.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await env.client.ws_connect("/api/v1/ws", headers={"Authorization": "Bearer nope"})
    assert err.value.status == 401


async def test_cookie_socket_from_another_site_is_refused(env: ApiEnv) -> None:
    await env.login("agent1001")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await env.client.ws_connect("/api/v1/ws", headers={"Origin": "https://evil.example"})
    assert err.value.status == 403
    own = f"http://{env.client.host}:{env.client.port}"
    ws = await env.client.ws_connect("/api/v1/ws", headers={"Origin": own})
    async with asyncio.timeout(5):
        assert (await ws.receive_json())["type"] == "hello"
    await ws.close()


async def test_stopping_the_server_closes_open_sockets_at_once(env: ApiEnv) -> None:
    """Desktops keep their socket open; a stop must not wait for them to go away."""
    await env.login("agent1001")
    ws = await env.client.ws_connect("/api/v1/ws")
    async with asyncio.timeout(5):
        assert (await ws.receive_json())["type"] == "hello"
    receiving = asyncio.create_task(ws.receive())
    started = time.monotonic()
    await env.client.server.close()
    assert time.monotonic() - started < 10
    async with asyncio.timeout(5):
        msg = await receiving
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY)
