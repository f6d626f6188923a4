"""What callbacks need from the rest of the system (implemented elsewhere, handed in)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from contactcore.callback.model import CallbackPolicy, CallbackTask


class CallbackRow(Protocol):
    """A stored callback (the ``callbacks`` table)."""

    @property
    def id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def queue_id(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def requested_at(self) -> float: ...
    @property
    def window_start(self) -> float: ...
    @property
    def window_end(self) -> float | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def last_reason(self) -> str | None: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


class CallbackStore(Protocol):
    """Durable callbacks; at most one open per number and queue."""

    async def request(
        self,
        number: str,
        queue_id: str,
        task_id: str,
        window_start: float,
        window_end: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[CallbackRow, bool]:
        """Create, or update the open one for this number and queue (keeps its task)."""
        ...

    async def update(self, callback_id: str, values: Mapping[str, Any]) -> CallbackRow: ...

    async def claim(
        self, callback_id: str, from_state: str, values: Mapping[str, Any]
    ) -> CallbackRow | None:
        """Change it only if still in ``from_state``; None when another process won."""
        ...

    async def get(self, callback_id: str) -> CallbackRow | None: ...

    async def get_by_task(self, task_id: str) -> CallbackRow | None:
        """The open callback whose routing task this is."""
        ...

    async def list_pending(
        self, queue_id: str | None = None, due_by: float | None = None
    ) -> Sequence[CallbackRow]: ...


class CallbackRouting(Protocol):
    """The routing engine as callbacks use it (implemented over the ACD in channels)."""

    async def enqueue(self, task: CallbackTask) -> bool:
        """Put the task in its queue; False when it is already there (idempotent)."""
        ...

    async def withdraw(self, task_id: str, reason: str) -> None:
        """Take a task out of its queue; nothing happens when it is not there."""
        ...

    async def accept(self, task_id: str, agent_id: str) -> bool:
        """The agent answered; False when the offer is no longer theirs."""
        ...

    async def no_answer(self, task_id: str, agent_id: str) -> None: ...

    async def finish(self, task_id: str, agent_id: str, *, skip_wrapup: bool) -> None: ...


# The dial string of an agent's phone and the agent's name (None: the agent has no phone).
AgentPhone = Callable[[str], Awaitable[tuple[str, str] | None]]
# Whether a queue is open at a time (its business hours); False for an unknown queue.
OpeningHours = Callable[[str, float], bool]
# A queue's callback policy; None when the queue does not exist.
PolicyLookup = Callable[[str], CallbackPolicy | None]
# How long the ACD's offer of a queue's task lasts (the agent's phone must ring less).
OfferTimeout = Callable[[str], float]
