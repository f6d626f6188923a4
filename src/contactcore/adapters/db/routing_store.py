"""The ACD's durable store in SQL: what must outlive Redis.

Implements ``acd.ports.RoutingDurableStore`` (structurally: adapters never import the ACD)
on the storage tables: logged-in agents are ``agent_sessions`` rows, their skills and
capacities the agent's own configuration (``agents``, ``agent_skills``), open tasks of
durable channels ``tasks`` rows. The routing fields the columns do not hold (exact
priority, skills, customer, attributes, the agent holding it) go in ``tasks.data``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from contactcore.adapters.db.agents import AgentRepository, AgentSessionRepository
from contactcore.adapters.db.interactions import InteractionRepository
from contactcore.adapters.db.records import TaskRecord
from contactcore.adapters.db.tasks import OpenTaskRepository
from contactcore.core.clock import Clock, SystemClock
from contactcore.core.events import DomainEvent

log = logging.getLogger(__name__)

# The ACD's default cross-channel rule, for agents with none of their own (agents.blocks NULL)
DEFAULT_BLOCKS: dict[str, list[str]] = {
    "voice": ["callback", "chat", "email"],
    "callback": ["voice", "chat", "email"],
}


class SqlRoutingDurableStore:
    def __init__(
        self,
        agents: AgentRepository,
        sessions: AgentSessionRepository,
        tasks: OpenTaskRepository,
        clock: Clock | None = None,
    ) -> None:
        self.agents = agents
        self.sessions = sessions
        self.tasks = tasks
        self.clock = clock or SystemClock()

    async def save_agent(self, agent: Mapping[str, Any]) -> None:
        agent_id = str(agent["id"])
        if "presence" in agent:
            await self.sessions.upsert(
                agent_id, str(agent["presence"]), agent.get("reason") or None
            )
        if "skills" not in agent and "capacity" not in agent and "blocks" not in agent:
            return
        record = await self.agents.get(agent_id)
        if record is None:
            return
        if "skills" in agent:
            skills = {str(k): int(v) for k, v in dict(agent["skills"]).items()}
            if skills != record.skills:  # a live change of skills or levels is kept
                await self.agents.set_skills(agent_id, skills)
        if "capacity" in agent:
            capacity = {str(k): int(v) for k, v in dict(agent["capacity"]).items()}
            if capacity != record.capacities:
                await self.agents.update(agent_id, capacities=capacity)
        if "blocks" in agent:
            blocks = {str(k): [str(c) for c in v] for k, v in dict(agent["blocks"]).items()}
            if blocks != (DEFAULT_BLOCKS if record.blocks is None else record.blocks):
                await self.agents.update(agent_id, blocks=blocks)

    async def delete_agent(self, agent_id: str) -> None:
        await self.sessions.delete(agent_id)

    async def list_agents(self) -> list[dict[str, Any]]:
        sessions = await self.sessions.list()
        configs = {a.id: a for a in await self.agents.list()}
        out = []
        for s in sessions:
            cfg = configs.get(s.agent_id)
            if cfg is None:
                continue
            out.append(
                {
                    "id": s.agent_id,
                    "skills": dict(cfg.skills),
                    "capacity": dict(cfg.capacities),
                    "blocks": cfg.blocks if cfg.blocks is not None else DEFAULT_BLOCKS,
                    "presence": s.presence,
                    "reason": s.reason or "",
                }
            )
        return out

    async def save_task(self, task: Mapping[str, Any]) -> bool:
        customer = dict(task.get("customer") or {})
        return await self.tasks.add(
            TaskRecord(
                id=str(task["id"]),
                channel=str(task["channel"]),
                queue_id=str(task["queue"]),
                priority=round(float(task.get("priority", 0))),
                state=str(task.get("state", "waiting")),
                enqueued_at=float(task["enqueued_at"]),
                updated_at=self.clock.now(),
                deadline=task.get("deadline"),
                customer_id=customer.get("id"),
                data={
                    "priority": float(task.get("priority", 0)),
                    "skills": dict(task.get("skills") or {}),
                    "customer": customer,
                    "attributes": dict(task.get("attributes") or {}),
                    "agent_id": task.get("agent_id"),
                },
            )
        )

    async def assign_task(self, task_id: str, agent_id: str) -> None:
        now = self.clock.now()
        changed = await self.tasks.change(
            task_id,
            lambda r: {
                "state": "assigned",
                "updated_at": now,
                "data": r.data | {"agent_id": agent_id},
            },
        )
        if changed is None:
            log.warning("task %s assigned to %s but not in the durable store", task_id, agent_id)

    async def update_task(
        self, task_id: str, *, queue: str | None = None, priority: float | None = None
    ) -> None:
        now = self.clock.now()

        def change(record: TaskRecord) -> dict[str, Any]:
            values: dict[str, Any] = {"updated_at": now}
            if queue is not None:
                values["queue_id"] = queue
            if priority is not None:
                values["priority"] = round(priority)
                values["data"] = record.data | {"priority": float(priority)}
            return values

        await self.tasks.change(task_id, change)  # None: not a durable channel's task

    async def delete_task(self, task_id: str) -> None:
        await self.tasks.delete(task_id)

    async def list_tasks(self) -> list[dict[str, Any]]:
        out = []
        for r in await self.tasks.list():
            doc: dict[str, Any] = {
                "id": r.id,
                "channel": r.channel,
                "queue": r.queue_id,
                "priority": float(r.data.get("priority", r.priority)),
                "enqueued_at": r.enqueued_at,
                "skills": dict(r.data.get("skills") or {}),
                "customer": dict(r.data.get("customer") or {}),
                "attributes": dict(r.data.get("attributes") or {}),
                "state": r.state,
                "agent_id": r.data.get("agent_id"),
            }
            if r.deadline is not None:
                doc["deadline"] = r.deadline
            out.append(doc)
        return out


class SqlHistorySink:
    """Implements ``acd.ports.EventSink``: the history consumer's batches go to the
    ``interaction_events`` table, where the event id is unique (a redelivery is ignored)."""

    def __init__(self, interactions: InteractionRepository) -> None:
        self.interactions = interactions

    async def write(self, events: Sequence[DomainEvent]) -> None:
        await self.interactions.add_events(events)
