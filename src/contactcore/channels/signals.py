"""Routing events for the work this process carries, delivered to whoever waits on them.

The routing engine decides in Redis, possibly in another process; the call's owner
learns of an offer (or of its task leaving the queue) from the event stream. One
reader per process follows the stream and hands each task's events to its waiter.
"""

from __future__ import annotations

import asyncio
import logging

from contactcore.core.events import DomainEvent
from contactcore.core.ports import EventFeed, follow

log = logging.getLogger(__name__)


class TaskSignals:
    def __init__(self, feed: EventFeed, batch: int = 500, block_ms: int = 1000) -> None:
        self._feed = feed
        self._batch = batch
        self._block_ms = block_ms
        self._waiters: dict[str, asyncio.Queue[DomainEvent]] = {}
        self.delivered = 0

    def watch(self, task_id: str) -> asyncio.Queue[DomainEvent]:
        """Start receiving the events of ``task_id`` (call before enqueueing it)."""
        queue: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._waiters[task_id] = queue
        return queue

    def unwatch(self, task_id: str) -> None:
        self._waiters.pop(task_id, None)

    def dispatch(self, events: list[DomainEvent]) -> None:
        for event in events:
            if event.task_id is not None:
                waiter = self._waiters.get(event.task_id)
                if waiter is not None:
                    waiter.put_nowait(event)
                    self.delivered += 1
                    log.debug("task %s: %s delivered", event.task_id, event.type)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the stream until ``stop`` is set (``core.ports.follow``)."""
        await follow(self._feed, stop, self.dispatch, count=self._batch, block_ms=self._block_ms)
