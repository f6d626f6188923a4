"""A thin asyncio ARI client over aiohttp: REST calls and the event WebSocket.

Why our own: the ARI libraries on PyPI were tried against Asterisk 22 (see
docs/design-notes.md) and none survives a WebSocket drop with calls still alive,
which is exactly what a contact center must do. This is small and does that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from contactcore.adapters.ari.errors import AriUnavailable, error_for_status
from contactcore.adapters.ari.models import AriEvent, parse_event

log = logging.getLogger(__name__)

EventCallback = Callable[[AriEvent], None]
LifecycleCallback = Callable[[], Awaitable[None]]


class AriClient:
    """REST side. One instance per Asterisk; share its aiohttp session."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        request_timeout: float = 5.0,
    ) -> None:
        self.base = url.rstrip("/") + "/ari"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int | float] | None = None,
        body: Any = None,
    ) -> Any:
        """One REST call; returns the decoded JSON (or None for 204)."""
        url = self.base + path
        clean = {k: str(v) for k, v in (params or {}).items()}
        try:
            async with self.session.request(method, url, params=clean, json=body) as resp:
                if resp.status == 204:
                    return None
                text = await resp.text()
                if resp.status >= 400:
                    message = text
                    with contextlib.suppress(ValueError, AttributeError):
                        message = json.loads(text).get("message", text)
                    raise error_for_status(resp.status, message, method, path)
                return json.loads(text) if text else None
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(
                f"Asterisk ARI at {self.base} did not answer ({type(exc).__name__}): "
                "is Asterisk running? try 'contactcore sandbox status'"
            ) from exc

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/asterisk/info")
        return result


class EventStream:
    """The ARI event WebSocket, kept open by a supervised loop.

    On a drop it reconnects with exponential backoff and jitter; after every
    (re)connect ``on_connect`` runs so the owner can reconcile what it believes with
    what Asterisk really has (events during the gap are lost).
    """

    def __init__(
        self,
        client: AriClient,
        app: str,
        on_event: EventCallback,
        *,
        on_connect: LifecycleCallback | None = None,
        on_disconnect: LifecycleCallback | None = None,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self._client = client
        self._app = app
        self._on_event = on_event
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._initial = backoff_initial
        self._max = backoff_max
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.reconnects = 0
        self.events_received = 0
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        """Wait for the stream; on timeout say why the last attempt failed."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise AriUnavailable(
                f"the ARI event stream for app '{self._app}' at {self._ws_url()} did not "
                f"connect within {timeout:g} s (last attempt: {self.last_error or 'none yet'}); "
                "is Asterisk running and ari.username/ari.password right? "
                "try 'contactcore sandbox status'"
            ) from None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ari-events-{self._app}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._connected.clear()

    def _ws_url(self) -> str:
        base = self._client.base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{base}/events?app={self._app}&subscribeAll=false"

    async def _run(self) -> None:
        delay = self._initial
        first = True
        while True:
            try:
                async with self._client.session.ws_connect(
                    self._ws_url(), heartbeat=10.0, timeout=aiohttp.ClientWSTimeout(ws_close=2.0)
                ) as ws:
                    if not first:
                        self.reconnects += 1
                    log.info("ARI event stream connected (app=%s)", self._app)
                    self.last_error = None
                    self._connected.set()
                    delay = self._initial
                    if self._on_connect is not None:
                        await self._on_connect()
                    await self._pump(ws)
                self.last_error = "event stream closed by Asterisk"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            first = False
            if self._connected.is_set():
                self._connected.clear()
                log.warning("ARI event stream lost (%s); reconnecting", self.last_error)
                if self._on_disconnect is not None:
                    await self._on_disconnect()
            else:
                log.debug("ARI connect failed (%s); retry in %.2fs", self.last_error, delay)
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self._max)

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                log.warning("ARI sent a frame that is not JSON; ignored")
                continue
            self.events_received += 1
            try:
                self._on_event(parse_event(data))
            except Exception:
                # One bad handler must not tear down the stream every call depends on.
                log.exception("ARI event handler failed for %s", data.get("type"))
