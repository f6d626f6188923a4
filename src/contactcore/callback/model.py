"""Pure types of callbacks: states, attempt outcomes, the per-queue policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class CallbackState(StrEnum):
    """A callback's life: pending (waiting for its window or its next attempt) ->
    queued (a task in the ACD, keeping the caller's place) -> dialling (an agent has it)
    -> done, or back to pending for a retry, or failed after the last attempt."""

    PENDING = "pending"
    QUEUED = "queued"
    DIALLING = "dialling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({CallbackState.PENDING, CallbackState.QUEUED, CallbackState.DIALLING})


class AttemptOutcome(StrEnum):
    CONNECTED = "connected"  # the customer pressed the key and was bridged to the agent
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    NO_KEY = "no-key"  # answered but did not press the key (e.g. an answering machine)
    CUSTOMER_HUNG_UP = "customer-hung-up"  # answered and hung up before pressing the key
    DIAL_FAILED = "dial-failed"  # the number could not be dialled at all


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """One queue's rules; from the settings, overridden by the queue's ``callback`` config."""

    enabled: bool = True
    offer_above_ewt_s: float = 120.0
    max_attempts: int = 3
    retry_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Retry:
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


@dataclass(frozen=True, slots=True)
class CallbackTask:
    """What the routing engine gets: a task of channel ``callback`` in the caller's queue,
    with the original enqueued time and priority (virtual hold)."""

    id: str
    queue: str
    enqueued_at: float
    priority: float = 0.0
    skills: dict[str, int] = field(default_factory=dict)
    customer_id: str | None = None
    tier: str | None = None
    verified: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


class Callback(BaseModel):
    """A callback as the API and the voice channel see it."""

    model_config = ConfigDict(frozen=True)

    id: str
    task_id: str
    queue: str
    number: str
    name: str | None
    state: CallbackState
    attempts: int
    last_reason: str | None
    requested_at: float
    window_start: float
    window_end: float | None
    enqueued_at: float
    agent_id: str | None
    interaction_id: str | None
