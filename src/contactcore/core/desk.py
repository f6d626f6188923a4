"""Ports behind the agent desktop and the supervisor console: history read for context,
dispositions written with the interaction, and today's counts from the event history.

The SQL adapter implements them (adapters/db/desk.py); the composition root hands them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class PastInteraction:
    id: str
    channel: str
    started_at: float
    ended_at: float | None
    outcome: str | None
    queue_id: str | None
    disposition: str | None


@dataclass(frozen=True, slots=True)
class Disposition:
    """How an agent closed a task: a code, a note; kept with the task's interaction."""

    task_id: str
    agent_id: str
    code: str
    note: str
    at: float
    interaction_id: str | None = None
    queue_id: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One routing event as stored by the history consumer (for today's numbers)."""

    type: str
    at: float
    task_id: str | None
    agent_id: str | None
    queue_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueDay:
    """A queue's counts since a time: tasks answered (accepted offers), answered within
    the queue's service-level threshold, and abandoned (the customer left waiting)."""

    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0


class DeskHistory(Protocol):
    async def customer_name(self, customer_id: str) -> str | None: ...

    async def ivr_path(self, interaction_id: str) -> list[str]:
        """What the caller did before the queue, in words: flows, menu keys, ID&V steps."""
        ...

    async def previous_interactions(
        self, customer_id: str, exclude: str | None, limit: int
    ) -> list[PastInteraction]:
        """The customer's latest interactions, newest first."""
        ...

    async def record_completion(
        self, task_id: str, agent_id: str, interaction_id: str, queue_id: str, at: float
    ) -> None:
        """The agent finished the task on the desktop: a timeline entry that also ties
        the task to its interaction once the routing engine has forgotten the task."""
        ...

    async def record_disposition(self, disposition: Disposition) -> str | None:
        """Store it in the task's interaction timeline (and on the interaction when there
        is one); returns the interaction id it was stored with, if any."""
        ...

    async def queue_counts(self, since: float, thresholds: dict[str, float]) -> dict[str, QueueDay]:
        """Per queue (the keys of ``thresholds``: queue -> service-level seconds), counted
        from the stored events at or after ``since``."""
        ...

    async def events_since(
        self, since: float, types: tuple[str, ...], agent_id: str | None = None
    ) -> list[HistoryEvent]:
        """Stored routing events of these types at or after ``since`` (optionally one agent's)."""
        ...

    async def task_events(self, task_id: str) -> list[HistoryEvent]:
        """Every stored event of one task, oldest first (its routing story)."""
        ...
