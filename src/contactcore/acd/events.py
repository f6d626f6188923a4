"""The routing engine's events: every type it appends to the stream, and its payload.

The engine (``adapters/redis/acd.lua``) writes them inside the call that makes the change;
history, the pages, planning and the channels read them. A ``core.events.DomainEvent``
carries the type, the time and the ids (task, agent, queue); the payload's fields are
declared here, one model per type, and ``payload_of`` reads an event's payload as its
model. Extra fields are refused, so the engine and this catalogue cannot drift apart
unnoticed (``tests/integration/test_acd_event_catalogue.py`` runs every kind of change and
reads every event it wrote).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from contactcore.core.events import DomainEvent


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(Payload):
    agent: str
    level: int
    free_since: float


class Winner(Candidate):
    occupancy: float


class Explanation(Payload):
    """Why the task went to this agent (see docs/acd.md, "Explanation")."""

    strategy: str
    step: int  # relaxation step reached (0: none)
    required: dict[str, int]  # skill levels after relaxation
    priority: float  # effective priority at that moment (aging included)
    base_priority: float
    waited: float
    eligible: int
    eligible_exact: bool  # false: at least that many
    winner: Winner
    why: str
    runner_up: Candidate | None = None


class TaskEnqueued(Payload):
    channel: str
    priority: float
    enqueued_at: float


class TaskOffered(Payload):
    channel: str
    timeout: float
    explanation: Explanation


class TaskAccepted(Payload):
    channel: str


class TaskAssigned(Payload):
    channel: str
    waited: float  # from enqueued-at to the offer
    explanation: Explanation


class TaskRefused(Payload):
    """``task.rejected`` (the agent said no, or logged out) and ``task.rona`` (no answer)."""

    reason: str
    channel: str


class TaskWithdrawn(Payload):
    reason: str  # e.g. hangup, callback, max-wait
    channel: str
    waited: float


class TaskCompleted(Payload):
    channel: str
    handle_time: float


class TaskOverflowed(Payload):
    from_queue: str
    waited: float


class TaskMaxWaitReached(Payload):
    channel: str
    waited: float


class TaskPriorityChanged(Payload):
    from_priority: float
    priority: float


class TaskMoved(Payload):
    from_queue: str


class TaskRestored(Payload):
    channel: str
    state: Literal["assigned"]


class AgentLogin(Payload):
    presence: str


class AgentPresence(Payload):
    presence: str
    reason: str | None = None


class AgentUpdated(Payload):
    skills: dict[str, int]
    capacity: dict[str, int]


class WrapupStarted(Payload):
    channel: str
    until_at: float


class WrapupEnded(Payload):
    channel: str


class QueueCreated(Payload):
    open: bool


class Empty(Payload):
    pass


ACD_EVENTS: dict[str, type[Payload]] = {
    "task.enqueued": TaskEnqueued,
    "task.offered": TaskOffered,
    "task.accepted": TaskAccepted,
    "task.assigned": TaskAssigned,
    "task.rejected": TaskRefused,
    "task.rona": TaskRefused,
    "task.withdrawn": TaskWithdrawn,
    "task.completed": TaskCompleted,
    "task.overflowed": TaskOverflowed,
    "task.max_wait_reached": TaskMaxWaitReached,
    "task.priority_changed": TaskPriorityChanged,
    "task.moved": TaskMoved,
    "task.restored": TaskRestored,
    "agent.login": AgentLogin,
    "agent.logout": Empty,
    "agent.updated": AgentUpdated,
    "agent.presence": AgentPresence,
    "agent.wrapup_started": WrapupStarted,
    "agent.wrapup_ended": WrapupEnded,
    "queue.created": QueueCreated,
    "queue.updated": Empty,
    "queue.opened": Empty,
    "queue.closed": Empty,
}


def payload_of(event: DomainEvent) -> Payload:
    """The event's payload as its model; KeyError for a type the engine does not write
    (other parts of contactcore write to the same stream)."""
    return ACD_EVENTS[event.type].model_validate(event.payload)
