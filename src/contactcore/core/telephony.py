"""Ports between a call's flow and the world that carries the call.

The IVR walks a flow against a :class:`CallSession` (implemented by the voice
channel over ARI, or by a scripted fake in tests) and hands the caller to a queue
through an :class:`Enqueuer`. The :class:`CallContext` is what the flow learned
about the caller; it is plain data so it can travel with the task to the agent and
to any flow or queue the call is transferred to (nobody asks the caller again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from contactcore.core.directory import CustomerRecord
from contactcore.core.events import DomainEvent
from contactcore.core.ids import new_id
from contactcore.errors import ContactcoreError


class CallerHungUp(ContactcoreError):
    """Raised by any session method once the caller's leg is gone."""

    error_id = "call.hung_up"


class PlayResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    interrupted_by: str | None = None  # the DTMF key that stopped the playback

    @property
    def completed(self) -> bool:
        return self.interrupted_by is None


class CollectEnd(StrEnum):
    """Why digit collection stopped."""

    FINISH_KEY = "finish_key"  # the caller pressed the finish key (not in the digits)
    MAX_LENGTH = "max_length"
    TIMEOUT = "timeout"  # inter-digit timeout after at least one digit
    NO_INPUT = "no_input"  # first-digit timeout, nothing pressed


class DigitsResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    digits: str
    ended: CollectEnd


async def gather_digits(
    keys: asyncio.Queue[str | None],
    *,
    max_digits: int,
    first_digit_timeout: float,
    inter_digit_timeout: float,
    finish_keys: str = "",
    initial: str = "",
) -> DigitsResult:
    """Collect DTMF keys from a call's key queue (``None`` = the leg is gone).

    The shared rule for ``CallSession.collect_digits``: the first key has
    ``first_digit_timeout``, each later one ``inter_digit_timeout`` (also when the
    first came in ``initial``, pressed during a prompt).
    """
    digits = initial
    while len(digits) < max_digits:
        try:
            async with asyncio.timeout(inter_digit_timeout if digits else first_digit_timeout):
                key = await keys.get()
        except TimeoutError:
            return DigitsResult(
                digits=digits, ended=CollectEnd.TIMEOUT if digits else CollectEnd.NO_INPUT
            )
        if key is None:
            raise CallerHungUp("the caller hung up")
        if key in finish_keys:
            return DigitsResult(digits=digits, ended=CollectEnd.FINISH_KEY)
        digits += key
    return DigitsResult(digits=digits, ended=CollectEnd.MAX_LENGTH)


class CallSession(Protocol):
    """One call as the flow sees it. Every method raises CallerHungUp once the leg is gone."""

    @property
    def call_id(self) -> str: ...

    @property
    def caller_number(self) -> str | None: ...

    @property
    def called_number(self) -> str: ...

    async def play(self, media: Sequence[str], *, interrupt_keys: str = "") -> PlayResult:
        """Play media in order; stop at once when a key in ``interrupt_keys`` is pressed.

        Keys not in ``interrupt_keys`` pressed during playback are discarded.
        """
        ...

    async def collect_digits(
        self,
        *,
        max_digits: int,
        first_digit_timeout: float,
        inter_digit_timeout: float,
        finish_keys: str = "",
        initial: str = "",
    ) -> DigitsResult:
        """Gather DTMF keys; ``initial`` are keys already pressed (e.g. during a prompt).

        Returns the digits without the finish key. ``max_digits`` counts ``initial`` too.
        """
        ...

    async def transfer_external(self, number: str) -> None: ...

    async def hangup(self) -> None: ...


class Verification(StrEnum):
    UNKNOWN = "unknown"
    IDENTIFIED = "identified"  # we think we know who it is (caller's number)
    VERIFIED = "verified"  # account number and PIN checked
    FAILED = "failed"  # verification tried and failed or locked


class CallContext(BaseModel):
    """What a call's flow learned; serialisable, travels with the task."""

    interaction_id: str = Field(default_factory=lambda: new_id("int_"))
    caller_number: str | None = None  # E.164 when it could be normalised
    called_number: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    customer: CustomerRecord | None = None
    verification: Verification = Verification.UNKNOWN
    verified_account: str | None = None
    priority: int = 0
    skills: dict[str, int] = Field(default_factory=dict)
    flows: list[str] = Field(default_factory=list)  # entry numbers walked, in order


class QueueOutcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller hung up while waiting
    OVERFLOWED = "overflowed"  # maximum wait reached
    CLOSED = "closed"  # the queue is closed or outside its hours
    CALLBACK = "callback"  # the caller chose to be called back, keeping their place


class QueueRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    call_id: str
    queue: str
    priority: int
    skills: dict[str, int]
    context: CallContext


class QueueResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: QueueOutcome
    waited: float = 0.0
    agent_id: str | None = None
    enqueued_at: float | None = None  # kept so a callback can keep the caller's place


class Enqueuer(Protocol):
    """Puts a call in a queue and returns once its time there is over.

    Implemented by the voice channel (music, announcements, agent connect); the
    flow only needs to know how it ended to follow the right branch.
    """

    async def enqueue(self, request: QueueRequest) -> QueueResult: ...


TimelineRecorder = Callable[[DomainEvent], Awaitable[None]]
