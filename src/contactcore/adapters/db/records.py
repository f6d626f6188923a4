"""Plain, immutable rows returned by the repositories.

``CustomerRecord`` and ``VerificationLock`` come from ``core.directory`` (they cross
into ID&V); the rest are the database's own shapes, which the composition root maps
to whatever a capability's port expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SkillRecord:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class QueueRecord:
    id: str
    name: str
    timezone: str
    config: dict[str, Any]
    open: bool


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    name: str
    username: str
    sip_endpoint: str | None
    role: str
    capacities: dict[str, int]
    skills: dict[str, int]  # skill name -> level 1..10
    created_at: float
    # cross-channel rules: channel in hand -> channels it blocks (None: the ACD's default)
    blocks: dict[str, list[str]] | None = None


@dataclass(frozen=True, slots=True)
class AgentSessionRecord:
    agent_id: str
    presence: str
    reason: str | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class InteractionEventRecord:
    id: str
    interaction_id: str | None
    type: str
    at: float
    task_id: str | None
    agent_id: str | None
    queue_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    id: str
    channel: str
    direction: str
    caller: str | None
    called: str | None
    customer_id: str | None
    queue_id: str | None
    agent_id: str | None
    started_at: float
    ended_at: float | None
    outcome: str | None
    recording: str | None
    attributes: dict[str, Any]
    events: tuple[InteractionEventRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """An open task as the ACD needs it to rebuild its live state after a Redis loss."""

    id: str
    channel: str
    queue_id: str
    priority: int
    state: str
    enqueued_at: float
    updated_at: float
    deadline: float | None = None
    customer_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    id: str
    task_id: str
    queue_id: str
    number: str
    requested_at: float
    window_start: float
    window_end: float | None
    attempts: int
    state: str
    last_reason: str | None
    data: dict[str, Any]
    updated_at: float
