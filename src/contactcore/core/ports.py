"""Ports: the interfaces capabilities use to reach the outside world.

Adapters implement them; the composition root hands the implementations in.
"""

from __future__ import annotations

from typing import Protocol

from contactcore.core.events import DomainEvent


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
