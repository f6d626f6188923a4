"""Pure types of the routing engine: tasks, queues, agents, offers and live numbers.

Plain pydantic models; the composition root maps database rows and settings to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AgentConfig",
    "AgentLive",
    "AgentSnapshot",
    "AgentWork",
    "Channel",
    "CustomerContext",
    "MaxWaitAction",
    "Offer",
    "Presence",
    "QueueConfig",
    "QueueStats",
    "RelaxationStep",
    "Strategy",
    "TaskPosition",
    "TaskSpec",
    "WorkItem",
    "WrapItem",
]


class Channel(StrEnum):
    """Known customer channels; the engine takes any channel name."""

    VOICE = "voice"
    CALLBACK = "callback"
    EMAIL = "email"
    CHAT = "chat"


class Strategy(StrEnum):
    """How the agent is chosen among the eligible ones (see docs/acd.md)."""

    LONGEST_IDLE = "longest_idle"
    BEST_SKILL = "best_skill"
    LEAST_OCCUPIED = "least_occupied"


class Presence(StrEnum):
    """The one presence an agent has across channels; busy and wrap-up follow from work."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    NOT_READY = "not_ready"


class MaxWaitAction(StrEnum):
    NOTIFY = "notify"  # publish task.max_wait_reached once; the channel decides (callback offer)
    WITHDRAW = "withdraw"  # take the task out of the queue (task.withdrawn, reason max-wait)


class RelaxationStep(BaseModel):
    """After ``after_s`` of waiting, lower every required level to at most ``min_level``,
    and/or overflow to another queue. The skill itself is never dropped."""

    model_config = ConfigDict(frozen=True)

    after_s: float = Field(ge=0)
    min_level: int | None = Field(default=None, ge=1, le=10)
    overflow_to: str | None = None

    @model_validator(mode="after")
    def _does_something(self) -> RelaxationStep:
        if self.min_level is None and self.overflow_to is None:
            raise ValueError("a relaxation step needs min_level or overflow_to")
        return self


class QueueConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    open: bool = True
    channels: tuple[str, ...] = (Channel.VOICE,)
    skills: dict[str, int] = Field(default_factory=dict)  # skill -> minimum level 1-10
    strategy: Strategy = Strategy.LONGEST_IDLE
    relaxation: tuple[RelaxationStep, ...] = ()
    offer_timeout_s: float = Field(default=20.0, gt=0)
    reoffer_after_s: float = Field(default=30.0, ge=0)  # before offering again to who refused
    wrapup_s: float = Field(default=0.0, ge=0)
    service_level_s: float = Field(default=20.0, gt=0)
    max_wait_s: float | None = Field(default=None, gt=0)
    max_wait_action: MaxWaitAction = MaxWaitAction.NOTIFY
    aging_s_per_point: float = Field(default=60.0, ge=0)  # 0 = no aging

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for skill, level in value.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {skill}: level must be 1-10")
        return value

    @field_validator("relaxation")
    @classmethod
    def _ordered(cls, value: tuple[RelaxationStep, ...]) -> tuple[RelaxationStep, ...]:
        return tuple(sorted(value, key=lambda s: s.after_s))


def _default_blocks() -> dict[str, tuple[str, ...]]:
    # A phone call in hand (inbound or a callback) blocks the other call kind and
    # new chats and emails.
    return {"voice": ("callback", "chat", "email"), "callback": ("voice", "chat", "email")}


class AgentConfig(BaseModel):
    """What the router needs of an agent: skills, capacity per channel, cross-channel rules."""

    model_config = ConfigDict(frozen=True)

    id: str
    skills: dict[str, int] = Field(default_factory=dict)
    capacity: dict[str, int] = Field(default_factory=lambda: {"voice": 1})
    # channel in hand -> channels it blocks (a call in hand blocks new chats and emails)
    blocks: dict[str, tuple[str, ...]] = Field(default_factory=_default_blocks)

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for skill, level in value.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {skill}: level must be 1-10")
        return value

    @classmethod
    def stored(
        cls,
        agent_id: str,
        skills: Mapping[str, int],
        capacity: Mapping[str, int] | None = None,
        blocks: Mapping[str, Sequence[str]] | None = None,
    ) -> AgentConfig:
        """From an agent's stored settings: what is not stored (no capacities, no
        cross-channel rules) takes the defaults."""
        fields: dict[str, Any] = {"id": agent_id, "skills": dict(skills)}
        if capacity:
            fields["capacity"] = dict(capacity)
        if blocks is not None:
            fields["blocks"] = {k: tuple(v) for k, v in blocks.items()}
        return cls(**fields)


class CustomerContext(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str | None = None
    tier: str | None = None  # "vip", "a", "b"
    verified: bool = False


class TaskSpec(BaseModel):
    """A piece of work to route: a call, a callback, an email, a chat."""

    model_config = ConfigDict(frozen=True)

    id: str
    channel: str
    queue: str
    priority: float = 0.0
    skills: dict[str, int] = Field(default_factory=dict)
    customer: CustomerContext = Field(default_factory=CustomerContext)
    category: str | None = None
    enqueued_at: float | None = None  # kept when re-queued or turned into a callback
    deadline: float | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Offer(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    agent_id: str
    queue_id: str
    channel: str


class TaskPosition(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    position: int  # 1 = next
    waited_s: float
    ewt_s: float


class QueueStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    queue_id: str
    open: bool
    waiting: int
    longest_wait_s: float
    agents: dict[str, int]  # available / busy / wrap_up / not_ready, among agents who serve it
    tasks: tuple[TaskPosition, ...]
    ewt_method: str
    service_level_s: float = 20.0  # the queue's answer threshold for its service level


class AgentSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    presence: Presence
    reason: str | None
    loads: dict[str, int]
    in_wrapup: bool
    config: AgentConfig


class AgentLive(BaseModel):
    """An agent as a supervisor sees it now (time in state from the routing store)."""

    agent_id: str
    presence: Presence
    reason: str | None
    state: str  # available / busy / wrap_up / not_ready
    tasks: tuple[str, ...]  # offered or assigned task ids
    loads: dict[str, int]
    time_in_state_s: float


class WorkItem(BaseModel):
    """A task offered to or assigned to one agent, as their desktop shows it."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    channel: str
    queue_id: str
    state: str  # offered / assigned
    priority: float
    enqueued_at: float
    offered_at: float | None
    offer_deadline: float | None  # None once accepted
    customer: CustomerContext
    attributes: dict[str, Any]


class WrapItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    channel: str
    until: float | None  # when the engine ends it by itself


class AgentWork(BaseModel):
    """One agent's work in hand and wrap-ups in progress (their desktop's view)."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    logged_in: bool
    presence: Presence
    reason: str | None
    state: str  # available / busy / wrap_up / not_ready / offline
    tasks: tuple[WorkItem, ...]
    wrapups: tuple[WrapItem, ...]
