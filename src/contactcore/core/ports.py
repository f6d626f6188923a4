"""Ports: the interfaces capabilities use to reach the outside world.

Adapters implement them; the composition root hands the implementations in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from contactcore.core.events import DomainEvent

log = logging.getLogger(__name__)


class EventBus(Protocol):
    async def publish(self, event: DomainEvent) -> None: ...


class InteractionRecorder(Protocol):
    """Writes the history of one interaction (a call, a chat, ...)."""

    async def start(
        self,
        interaction_id: str,
        channel: str,
        started_at: float,
        caller: str | None = None,
        called: str | None = None,
    ) -> None: ...

    async def add_event(self, event: DomainEvent) -> None: ...

    async def finish(self, interaction_id: str, ended_at: float, outcome: str) -> None: ...


class EventFeed(Protocol):
    """The live event stream as one process follows it (no acknowledgement, no replay)."""

    async def read(self, count: int, block_ms: int) -> list[DomainEvent]:
        """The next events, waiting up to ``block_ms`` for some (may return none)."""
        ...


async def follow(
    feed: EventFeed,
    stop: asyncio.Event,
    handle: Callable[[list[DomainEvent]], None],
    *,
    count: int,
    block_ms: int,
) -> None:
    """Hand each batch the feed gives to ``handle`` until ``stop`` is set; a read that
    fails is logged and tried again half a second later.

    Stopped by an event rather than by cancellation: redis-py can swallow a
    cancellation that arrives in the middle of a command.
    """
    while not stop.is_set():
        try:
            events = await feed.read(count, block_ms)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("event stream read failed (%s); retrying", exc)
            await asyncio.sleep(0.5)
            continue
        handle(events)
