"""Watch everything Asterisk does, from a second ARI application, for assertions.

``subscribeAll=true`` subscribes the observer to every channel and bridge, so tests
see the real events (DTMF, playbacks, hang-ups) independently of the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp


class AriObserver:
    def __init__(self, ari_url: str, username: str, password: str, app: str = "observer") -> None:
        self._url = (
            ari_url.replace("http://", "ws://", 1).rstrip("/")
            + f"/ari/events?app={app}&subscribeAll=true"
        )
        self._auth = aiohttp.encode_basic_auth(username, password)
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AriObserver:
        self._session = aiohttp.ClientSession(headers={"Authorization": self._auth})
        ws = await self._session.ws_connect(self._url)
        self._task = asyncio.create_task(self._pump(ws))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.events.append(json.loads(msg.data))
                    self._changed.notify_all()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._changed.wait()
