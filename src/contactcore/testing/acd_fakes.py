"""In-memory fakes of the ACD's own ports, for unit tests and the simulation."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from contactcore.core.events import DomainEvent


class InMemoryDurableStore:
    """Implements ``acd.ports.RoutingDurableStore`` in memory."""

    def __init__(self) -> None:
        self.agents: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}

    async def save_agent(self, agent: Mapping[str, Any]) -> None:
        old = self.agents.get(str(agent["id"]), {})
        self.agents[str(agent["id"])] = old | copy.deepcopy(dict(agent))

    async def delete_agent(self, agent_id: str) -> None:
        self.agents.pop(agent_id, None)

    async def list_agents(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(a) for a in self.agents.values()]

    async def save_task(self, task: Mapping[str, Any]) -> bool:
        if str(task["id"]) in self.tasks:
            return False
        self.tasks[str(task["id"])] = copy.deepcopy(dict(task))
        return True

    async def assign_task(self, task_id: str, agent_id: str) -> None:
        if task_id in self.tasks:
            self.tasks[task_id] |= {"state": "assigned", "agent_id": agent_id}

    async def update_task(
        self, task_id: str, *, queue: str | None = None, priority: float | None = None
    ) -> None:
        if task_id in self.tasks:
            if queue is not None:
                self.tasks[task_id]["queue"] = queue
            if priority is not None:
                self.tasks[task_id]["priority"] = priority

    async def delete_task(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)

    async def list_tasks(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(t) for t in self.tasks.values()]


class MemoryEventSink:
    """Implements ``acd.ports.EventSink``; idempotent by event id like the SQL table."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.events: dict[str, DomainEvent] = {}
        self.writes = 0
        self.fail_after = fail_after

    async def write(self, events: Sequence[DomainEvent]) -> None:
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise RuntimeError("sink unavailable")
        self.writes += 1
        for ev in events:
            self.events.setdefault(ev.id, ev)


class MemoryEventSource:
    """Implements ``acd.ports.EventSource`` over a list, with the pending-entry semantics of
    a Redis consumer group (delivered entries stay pending until acknowledged)."""

    def __init__(self, events: Sequence[DomainEvent] = ()) -> None:
        self.log: list[tuple[str, DomainEvent]] = []
        self.next_new = 0
        self.pending: dict[str, DomainEvent] = {}
        for ev in events:
            self.append(ev)

    def append(self, event: DomainEvent) -> None:
        self.log.append((f"{len(self.log) + 1}-0", event))

    async def ensure_group(self) -> None:
        return None

    async def read_pending(self, count: int) -> list[tuple[str, DomainEvent]]:
        return sorted(self.pending.items(), key=lambda kv: int(kv[0].split("-")[0]))[:count]

    async def claim_stale(self, min_idle_ms: int, count: int) -> list[tuple[str, DomainEvent]]:
        return []

    async def read_new(self, count: int, block_ms: int) -> list[tuple[str, DomainEvent]]:
        out = self.log[self.next_new : self.next_new + count]
        if not out:
            await asyncio.sleep(block_ms / 1000)  # like XREADGROUP BLOCK with nothing new
        self.next_new += len(out)
        for eid, ev in out:
            self.pending[eid] = ev
        return out

    async def ack(self, entry_ids: Sequence[str]) -> None:
        for eid in entry_ids:
            self.pending.pop(eid, None)


class ManualClock:
    """Implements ``core.clock.Clock``; time moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
