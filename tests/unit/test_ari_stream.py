"""The ARI event stream says why it could not connect, instead of a bare timeout."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from contactcore.adapters.ari.client import AriClient, EventStream
from contactcore.adapters.ari.errors import AriUnavailable


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_refused_connection_is_named_when_the_wait_ends() -> None:
    client = AriClient(f"http://127.0.0.1:{closed_port()}", "u", "p")
    stream = EventStream(client, "contactcore", lambda _: None, backoff_initial=0.05)
    stream.start()
    try:
        with pytest.raises(AriUnavailable) as caught:
            await stream.wait_connected(0.5)
    finally:
        await stream.stop()
        await client.close()
    message = str(caught.value)
    assert "app 'contactcore'" in message
    assert "within 0.5 s" in message
    assert "ClientConnectorError" in message


async def test_a_refused_login_is_named_when_the_wait_ends(unused_tcp_port: int) -> None:
    async def refuse(_: web.Request) -> web.Response:
        return web.Response(status=401, text="Authentication required")

    app = web.Application()
    app.router.add_get("/ari/events", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    client = AriClient(f"http://127.0.0.1:{unused_tcp_port}", "u", "wrong")
    stream = EventStream(client, "contactcore", lambda _: None, backoff_initial=0.05)
    stream.start()
    try:
        with pytest.raises(AriUnavailable, match="401"):
            await stream.wait_connected(0.5)
    finally:
        await stream.stop()
        await client.close()
        await runner.cleanup()
