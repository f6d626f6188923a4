"""In-memory fakes of the callback ports (store, routing, telephony), for unit tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contactcore.adapters.db.records import CallbackRecord
from contactcore.callback.model import CallbackTask
from contactcore.core.events import DomainEvent
from contactcore.core.ids import new_id
from contactcore.core.telephony import CallerHungUp, CollectEnd, DigitsResult, PlayResult
from contactcore.core.voice import CallHandler, Leg
from contactcore.errors import Conflict

CLOSED = ("done", "failed", "cancelled")


class InMemoryCallbackStore:
    """``callback.ports.CallbackStore``: one open callback per number and queue."""

    def __init__(self, now: float = 0.0) -> None:
        self.rows: dict[str, CallbackRecord] = {}
        self.now = now

    async def request(
        self,
        number: str,
        queue_id: str,
        task_id: str,
        window_start: float,
        window_end: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[CallbackRecord, bool]:
        for row in self.rows.values():
            if row.number == number and row.queue_id == queue_id and row.state not in CLOSED:
                new = dataclasses.replace(
                    row, window_start=window_start, window_end=window_end, data=dict(data or {})
                )
                self.rows[row.id] = new
                return new, False
        row = CallbackRecord(
            new_id("cb_"), task_id, queue_id, number, self.now, window_start, window_end, 0,
            "pending", None, dict(data or {}), self.now,
        )  # fmt: skip
        self.rows[row.id] = row
        return row, True

    async def update(self, callback_id: str, values: Mapping[str, Any]) -> CallbackRecord:
        row = dataclasses.replace(self.rows[callback_id], **dict(values))
        self.rows[callback_id] = row
        return row

    async def claim(
        self, callback_id: str, from_state: str, values: Mapping[str, Any]
    ) -> CallbackRecord | None:
        if self.rows[callback_id].state != from_state:
            return None
        return await self.update(callback_id, values)

    async def get(self, callback_id: str) -> CallbackRecord | None:
        return self.rows.get(callback_id)

    async def get_by_task(self, task_id: str) -> CallbackRecord | None:
        return next(
            (r for r in self.rows.values() if r.task_id == task_id and r.state not in CLOSED),
            None,
        )

    async def list_pending(
        self, queue_id: str | None = None, due_by: float | None = None
    ) -> Sequence[CallbackRecord]:
        rows = [
            r
            for r in self.rows.values()
            if r.state not in CLOSED
            and (queue_id is None or r.queue_id == queue_id)
            and (due_by is None or r.window_start <= due_by)
        ]
        return sorted(rows, key=lambda r: (r.window_start, r.id))


@dataclass
class FakeCallbackRouting:
    """``callback.ports.CallbackRouting``: what was asked of the engine, in order."""

    waiting: dict[str, CallbackTask] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    accept_ok: bool = True

    async def enqueue(self, task: CallbackTask) -> bool:
        self.calls.append(("enqueue", task.id))
        if task.id in self.waiting:
            return False
        self.waiting[task.id] = task
        return True

    async def withdraw(self, task_id: str, reason: str) -> None:
        self.calls.append(("withdraw", task_id, reason))
        self.waiting.pop(task_id, None)

    async def accept(self, task_id: str, agent_id: str) -> bool:
        self.calls.append(("accept", task_id, agent_id))
        return self.accept_ok

    async def no_answer(self, task_id: str, agent_id: str) -> None:
        self.calls.append(("no_answer", task_id, agent_id))

    async def finish(self, task_id: str, agent_id: str, *, skip_wrapup: bool) -> None:
        self.calls.append(("finish", task_id, agent_id, "skip" if skip_wrapup else "wrap"))
        self.waiting.pop(task_id, None)


class FakeLeg:
    """A phone that answered; ``keys`` are what its user presses (in order)."""

    def __init__(self, endpoint: str, keys: str = "") -> None:
        self.endpoint = endpoint
        self.call_id = new_id("leg_")
        self.caller_number = ""
        self.called_number = endpoint
        self.caller_name = ""
        self._keys = list(keys)
        self._gone = asyncio.Event()
        self.played: list[list[str]] = []

    @property
    def hung_up(self) -> bool:
        return self._gone.is_set()

    def _alive(self) -> None:
        if self.hung_up:
            raise CallerHungUp("gone")

    async def play(self, media: Sequence[str], *, interrupt_keys: str = "") -> PlayResult:
        self._alive()
        self.played.append(list(media))
        if self._keys and self._keys[0] in interrupt_keys:
            return PlayResult(interrupted_by=self._keys.pop(0))
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
        if self._keys:
            return DigitsResult(digits=self._keys.pop(0), ended=CollectEnd.MAX_LENGTH)
        return DigitsResult(digits="", ended=CollectEnd.NO_INPUT)

    async def transfer_external(self, number: str) -> None:
        raise NotImplementedError

    async def answer(self) -> None:
        pass

    async def hangup(self, reason: str = "normal") -> None:
        self._gone.set()

    async def start_moh(self, moh_class: str = "default") -> None:
        self._alive()

    async def stop_moh(self) -> None:
        pass

    async def wait_hangup(self) -> None:
        await self._gone.wait()

    async def wait_transfer(self) -> str:
        await asyncio.Event().wait()  # this phone never asks for a transfer
        return ""

    async def transfer_progress(self, accepted: bool) -> None:
        pass


@dataclass
class Answer:
    """The phone answers; its user presses ``keys``; it hangs up after ``talk_s``."""

    keys: str = ""
    talk_s: float = 0.01


@dataclass
class NoAnswer:
    cause: int | None = 19


class FakeTelephony:
    """``core.voice.Telephony``: each originate follows the next scripted outcome."""

    def __init__(self, outcomes: Sequence[Answer | NoAnswer] = ()) -> None:
        self.outcomes = list(outcomes)
        self.dialled: list[tuple[str, str]] = []
        self.legs: list[FakeLeg] = []
        self.bridges: list[list[str]] = []
        self.connected = True

    def set_call_handler(self, handler: CallHandler | None) -> None:
        pass

    async def originate(
        self,
        endpoint: str,
        *,
        caller_id: str,
        timeout: float,
        variables: dict[str, str] | None = None,
    ) -> Leg:
        self.dialled.append((endpoint, caller_id))
        outcome = self.outcomes.pop(0) if self.outcomes else NoAnswer()
        if isinstance(outcome, NoAnswer):
            raise CallerHungUp(f"{endpoint} did not answer", cause=outcome.cause)
        leg = FakeLeg(endpoint, outcome.keys)
        self.legs.append(leg)
        asyncio.get_running_loop().call_later(outcome.talk_s, leg._gone.set)
        return leg

    async def bridge(self, legs: Sequence[Leg]) -> str:
        self.bridges.append([leg.call_id for leg in legs])
        return new_id("br_")

    async def destroy_bridge(self, bridge_id: str) -> None:
        pass

    async def record_bridge(self, bridge_id: str, name: str) -> str:
        return f"{name}.wav"

    async def stop_recording(self, name: str, timeout: float) -> float | None:
        return None


@dataclass
class RecordedInteractions:
    """``core.ports.InteractionRecorder`` in memory."""

    started: dict[str, tuple[str, float]] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    finished: dict[str, str] = field(default_factory=dict)

    async def start(
        self,
        interaction_id: str,
        channel: str,
        started_at: float,
        caller: str | None = None,
        called: str | None = None,
    ) -> None:
        if interaction_id in self.started:
            raise Conflict("interaction exists")
        self.started[interaction_id] = (channel, started_at)

    async def add_event(self, event: DomainEvent) -> None:
        self.events.append(event)

    async def finish(self, interaction_id: str, ended_at: float, outcome: str) -> None:
        self.finished[interaction_id] = outcome
