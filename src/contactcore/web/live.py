"""``/api/v1/ws``: routing events pushed to connected desktops and consoles.

One reader task follows the event feed and fans each event out; supervisors and admins
get every event, agents only those about themselves. Sockets are tracked so shutdown
closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from contactcore.core.auth import SUPERVISORS, StaffMember
from contactcore.core.events import DomainEvent
from contactcore.core.ports import EventFeed
from contactcore.web.auth import deny, member_of

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # events buffered per client before it is dropped as too slow


@dataclass(eq=False)
class _Client:
    member: StaffMember
    queue: asyncio.Queue[DomainEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT)
    )
    overflowed: bool = False


def visible(member: StaffMember, event: DomainEvent) -> bool:
    """Supervisors see everything; agents their own events and queues opening or closing
    (their desktop shows which queues take work)."""
    if member.role in SUPERVISORS or event.agent_id == member.id:
        return True
    return event.type in ("queue.opened", "queue.closed")


@dataclass(eq=False)
class LiveHub:
    feed: EventFeed
    block_ms: int = 1000
    clients: set[_Client] = field(default_factory=set)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)

    def publish(self, event: DomainEvent) -> None:
        for c in self.clients:
            if not visible(c.member, event):
                continue
            try:
                c.queue.put_nowait(event)
            except asyncio.QueueFull:
                c.overflowed = True

    async def run(self) -> None:
        """Follow the feed until cancelled; a read failure is logged and retried."""
        while True:
            try:
                events = await self.feed.read(100, self.block_ms)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live feed read failed; retrying in 1s")
                await asyncio.sleep(1.0)
                continue
            for event in events:
                self.publish(event)


LIVE_HUB = web.AppKey("live_hub", LiveHub)


async def websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[LIVE_HUB]
    member = member_of(request)
    origin = request.headers.get("Origin")
    if (
        origin
        and "Authorization" not in request.headers
        and urlsplit(origin).netloc != request.host
    ):
        # a cookie-authenticated socket opened by another site's page (CSWSH)
        raise deny(403, "forbidden", f"Origin: {origin} is not this site")
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    client = _Client(member)
    hub.clients.add(client)
    hub.sockets.add(ws)
    log.info("live socket opened for %s (%s)", member.username, member.role)
    await ws.send_json({"type": "hello", "user": member.username, "role": member.role})

    async def pump() -> None:
        while True:
            event = await client.queue.get()
            if client.overflowed:
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                return
            try:
                await ws.send_json({"type": "event", "event": event.model_dump(mode="json")})
            except ConnectionResetError:
                return

    sender = asyncio.create_task(pump(), name=f"ws-{member.username}")
    try:
        async for _msg in ws:  # the client talks only to close; reading notices it
            pass
    finally:
        sender.cancel()
        # a send to a socket closing under it ends the pump; that is not an error here
        await asyncio.gather(sender, return_exceptions=True)
        hub.clients.discard(client)
        hub.sockets.discard(ws)
        log.info("live socket closed for %s", member.username)
    return ws


async def hub_lifetime(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the feed reader runs while the app runs; shutdown closes the sockets."""
    hub = app[LIVE_HUB]
    reader = asyncio.create_task(hub.run(), name="live-feed")
    yield
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await close_sockets(app)


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: close the open sockets first, or the server's graceful stop waits for
    their handlers (which end only when the browser closes) until its timeout."""
    hub = app[LIVE_HUB]
    for ws in list(hub.sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
