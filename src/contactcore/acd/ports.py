"""Ports of the routing engine.

``RoutingStore`` is the live state (Redis; adapters/redis/routing_store.py). Its commands
take and return plain JSON-like values so that the adapter needs nothing from this package:
structural typing is enough. ``RoutingDurableStore`` is what must outlive Redis (SQL).
``EventSource``/``EventSink`` feed the history consumer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from contactcore.core.events import DomainEvent


class RoutingStore(Protocol):
    async def execute(self, command: str, now: float, args: Mapping[str, Any]) -> Any:
        """Run one atomic engine command (see adapters/redis/acd.lua) and return its result."""
        ...

    async def execute_many(
        self, calls: Sequence[tuple[str, float, Mapping[str, Any]]]
    ) -> list[Any]:
        """Several commands in one round trip; each is atomic on its own."""
        ...

    async def read_state(self) -> dict[str, Any]:
        """A consistent snapshot for live numbers: queues, agents, waiting tasks, EWT inputs."""
        ...

    async def read_agent_work(self, agent_id: str) -> dict[str, Any]:
        """The agent's hash (``{}`` when not logged in), its tasks' hashes by id and its
        wrap-ups (``{"task", "channel", "until"}``)."""
        ...

    async def is_empty(self) -> bool:
        """True when Redis holds no routing state at all (fresh or restarted without data)."""
        ...

    async def is_live(self) -> bool:
        """True while the state marked complete by ``mark_live`` is still there: False on a
        Redis that restarted empty, even once some new state has been written to it."""
        ...

    async def mark_live(self) -> None: ...

    async def claim_rebuild(self, owner: str, ttl_s: float) -> bool:
        """One process at a time refills Redis: True for the one that may (for ``ttl_s``)."""
        ...

    async def release_rebuild(self, owner: str) -> None: ...


class RoutingDurableStore(Protocol):
    """What must survive a Redis restart: logged-in agents with their settings, open tasks
    of channels that outlive a process (email, chat, callback), and queue definitions."""

    async def save_agent(self, agent: Mapping[str, Any]) -> None:
        """Upsert by ``id``; fields left out (skills, capacity, blocks or presence, reason)
        keep their stored values."""
        ...

    async def delete_agent(self, agent_id: str) -> None: ...

    async def list_agents(self) -> list[dict[str, Any]]: ...

    async def save_task(self, task: Mapping[str, Any]) -> bool:
        """Store a new open task; one already stored with that id is left as it is.
        Returns whether it was stored."""
        ...

    async def assign_task(self, task_id: str, agent_id: str) -> None:
        """The task is now in the agent's hands (state "assigned", agent_id set)."""
        ...

    async def update_task(
        self, task_id: str, *, queue: str | None = None, priority: float | None = None
    ) -> None:
        """A waiting task moved to another queue or given another priority (a live change
        or an overflow); a task the store does not hold (voice) is left alone."""
        ...

    async def delete_task(self, task_id: str) -> None: ...

    async def list_tasks(self) -> list[dict[str, Any]]: ...


class EventSource(Protocol):
    """A durable event log read with a consumer group (at-least-once delivery)."""

    async def ensure_group(self) -> None: ...

    async def read_pending(self, count: int) -> list[tuple[str, DomainEvent]]:
        """Entries delivered to this consumer before but never acknowledged."""
        ...

    async def claim_stale(self, min_idle_ms: int, count: int) -> list[tuple[str, DomainEvent]]:
        """Take over entries another (dead) consumer left unacknowledged."""
        ...

    async def read_new(self, count: int, block_ms: int) -> list[tuple[str, DomainEvent]]: ...

    async def ack(self, entry_ids: Sequence[str]) -> None: ...


class EventSink(Protocol):
    async def write(self, events: Sequence[DomainEvent]) -> None:
        """Store a batch. Must be idempotent by event id: after a crash a batch comes again."""
        ...
