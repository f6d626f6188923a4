"""In-memory fakes of the call-flow ports, for unit tests of flows and channels.

:class:`ScriptedCallSession` plays a caller from a script: each step is taken at
the next moment the flow plays or listens. Key collection runs the real
``gather_digits`` rule with real (short) timeouts, so silences are true timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from contactcore.core.directory import CustomerRecord, VerificationLock
from contactcore.core.events import DomainEvent
from contactcore.core.ids import new_id
from contactcore.core.telephony import (
    CallerHungUp,
    DigitsResult,
    PlayResult,
    QueueOutcome,
    QueueRequest,
    QueueResult,
    gather_digits,
)


@dataclass(frozen=True)
class Press:
    """The caller presses ``keys``; with ``barge_in`` the first key cuts the prompt short."""

    keys: str
    barge_in: bool = False


@dataclass(frozen=True)
class Silence:
    """The caller presses nothing: the flow's timeout runs out."""


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up (at the next play or listen)."""


Action = Press | Silence | HangUp


class ScriptedCallSession:
    """A ``CallSession`` whose caller follows a script; records what the flow did."""

    def __init__(
        self,
        script: Iterable[Action],
        *,
        caller_number: str | None = "+441632960001",
        called_number: str = "100",
        call_id: str | None = None,
    ) -> None:
        self._script: list[Action] = list(script)
        self._caller = caller_number
        self._called = called_number
        self._call_id = call_id or new_id("call_")
        self.played: list[list[str]] = []
        self.collected: list[DigitsResult] = []
        self.hung_up = False  # by the flow
        self.caller_gone = False
        self.transferred_to: str | None = None

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def caller_number(self) -> str | None:
        return self._caller

    @property
    def called_number(self) -> str:
        return self._called

    @property
    def remaining(self) -> list[Action]:
        return list(self._script)

    def _alive(self) -> None:
        if self.caller_gone or self.hung_up or self.transferred_to is not None:
            raise CallerHungUp("the leg is gone")

    async def play(self, media: Sequence[str], *, interrupt_keys: str = "") -> PlayResult:
        self._alive()
        self.played.append(list(media))
        step = self._script[0] if self._script else None
        if isinstance(step, HangUp):
            self._script.pop(0)
            self.caller_gone = True
            raise CallerHungUp("the caller hung up during a prompt")
        if isinstance(step, Press) and step.barge_in and step.keys[0] in interrupt_keys:
            self._script.pop(0)
            if step.keys[1:]:
                self._script.insert(0, Press(step.keys[1:]))
            return PlayResult(interrupted_by=step.keys[0])
        return PlayResult()

    async def collect_digits(
        self,
        *,
        max_digits: int,
        first_digit_timeout: float,
        inter_digit_timeout: float,
        finish_keys: str = "",
        initial: str = "",
    ) -> DigitsResult:
        self._alive()
        step = self._script.pop(0) if self._script else HangUp()
        keys: asyncio.Queue[str | None] = asyncio.Queue()
        if isinstance(step, Press):
            for key in step.keys:
                keys.put_nowait(key)
        elif isinstance(step, HangUp):
            keys.put_nowait(None)
        try:
            result = await gather_digits(
                keys,
                max_digits=max_digits,
                first_digit_timeout=first_digit_timeout,
                inter_digit_timeout=inter_digit_timeout,
                finish_keys=finish_keys,
                initial=initial,
            )
        except CallerHungUp:
            self.caller_gone = True
            raise
        self.collected.append(result)
        return result

    async def transfer_external(self, number: str) -> None:
        self._alive()
        self.transferred_to = number

    async def hangup(self) -> None:
        self._alive()
        self.hung_up = True


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


class InMemoryDirectory:
    def __init__(
        self, customers: Iterable[CustomerRecord] = (), pin_hashes: dict[str, str] | None = None
    ) -> None:
        self.customers = list(customers)
        self.pin_hashes = dict(pin_hashes or {})

    async def find_by_phone(self, e164: str) -> CustomerRecord | None:
        return next((c for c in self.customers if e164 in c.phones), None)

    async def find_by_account(self, account_number: str) -> CustomerRecord | None:
        return next((c for c in self.customers if c.account_number == account_number), None)

    async def pin_hash(self, customer_id: str) -> str | None:
        return self.pin_hashes.get(customer_id)


class InMemoryLockStore:
    def __init__(self) -> None:
        self.locks: dict[str, VerificationLock] = {}

    async def get(self, account_number: str) -> VerificationLock:
        return self.locks.get(account_number, VerificationLock(account_number=account_number))

    async def record_failure(
        self, account_number: str, now: float, max_attempts: int, lock_seconds: float
    ) -> VerificationLock:
        lock = await self.get(account_number)
        failed = lock.failed_attempts
        if lock.locked_until is not None and now >= lock.locked_until:
            failed = 0  # an expired lock starts a fresh count
        failed += 1
        until = now + lock_seconds if failed >= max_attempts else None
        lock = VerificationLock(
            account_number=account_number, failed_attempts=failed, locked_until=until
        )
        self.locks[account_number] = lock
        return lock

    async def reset(self, account_number: str) -> None:
        self.locks.pop(account_number, None)


@dataclass
class FakeEnqueuer:
    """Answers queue requests from a list of results per queue (default: answered)."""

    results: dict[str, list[QueueResult]] = field(default_factory=dict)
    requests: list[QueueRequest] = field(default_factory=list)

    async def enqueue(self, request: QueueRequest) -> QueueResult:
        self.requests.append(request)
        planned = self.results.get(request.queue)
        if planned:
            return planned.pop(0)
        return QueueResult(outcome=QueueOutcome.ANSWERED, waited=1.0, agent_id="agent-1")


@dataclass
class EventLog:
    """A timeline recorder that keeps the events in memory."""

    events: list[DomainEvent] = field(default_factory=list)

    async def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, kind: str) -> list[DomainEvent]:
        return [e for e in self.events if e.type == kind]
