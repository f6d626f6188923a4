"""The callback service on in-memory ports: virtual hold, scheduling, agent-first dialling,
retries and recovery after a restart."""

from __future__ import annotations

import pytest

from contactcore.callback.model import CallbackPolicy, CallbackTask
from contactcore.callback.service import CallbackConfig, CallbackService
from contactcore.errors import Conflict, NotFound
from contactcore.testing.callback_fakes import (
    Answer,
    FakeCallbackRouting,
    FakeTelephony,
    InMemoryCallbackStore,
    NoAnswer,
    RecordedInteractions,
)
from contactcore.testing.telephony import FakeClock

NOW = 1_800_000_000.0
POLICY = CallbackPolicy(offer_above_ewt_s=60, max_attempts=2, retry_s=90)
AGENT = "ag_1"


class Env:
    def __init__(self, *outcomes: Answer | NoAnswer, open_hours: bool = True) -> None:
        self.clock = FakeClock(NOW)
        self.store = InMemoryCallbackStore(NOW)
        self.routing = FakeCallbackRouting()
        self.telephony = FakeTelephony(outcomes)
        self.recorder = RecordedInteractions()

        async def phone(agent_id: str) -> tuple[str, str] | None:
            return ("PJSIP/agent1001", "Alice") if agent_id == AGENT else None

        self.service = CallbackService(
            self.store,
            self.routing,
            self.telephony,
            self.recorder,
            self.clock,
            CallbackConfig(confirm_timeout_s=0.05),
            {"billing": POLICY}.get,
            lambda queue, at: open_hours,
            phone,
            lambda queue: 15.0,
        )

    async def from_call(self, number: str = "2025550143", enqueued_at: float = NOW - 300) -> str:
        cb = await self.service.from_call(
            number=number,
            queue="billing",
            enqueued_at=enqueued_at,
            priority=10,
            skills={"billing": 1},
            customer_id="cu_1",
            tier="vip",
            verified=True,
            name="Victoria Hale",
            call_interaction_id="ix_call",
        )
        return cb.id

    def kinds(self) -> list[str]:
        return [e.type for e in self.recorder.events]


async def test_a_callback_from_a_call_is_queued_at_once_in_the_callers_place() -> None:
    env = Env()
    cb_id = await env.from_call()
    row = env.store.rows[cb_id]
    assert row.state == "queued"
    assert row.number == "+12025550143"
    task = env.routing.waiting[row.task_id]
    assert (task.queue, task.enqueued_at, task.priority, task.tier) == (
        "billing", NOW - 300, 10, "vip",
    )  # fmt: skip
    assert task.skills == {"billing": 1}
    ix = row.data["interaction_id"]
    assert env.recorder.started[ix] == ("callback", NOW)
    assert env.kinds() == ["callback.requested", "callback.queued"]


async def test_a_second_request_updates_the_first_and_keeps_the_earlier_place() -> None:
    env = Env()
    first = await env.from_call(enqueued_at=NOW - 300)
    second = await env.from_call(number="+1 202 555 0143", enqueued_at=NOW - 10)
    assert first == second
    (row,) = env.store.rows.values()
    assert row.data["enqueued_at"] == NOW - 300
    assert len(env.routing.waiting) == 1


async def test_scheduled_callbacks_enter_the_queue_when_their_window_starts() -> None:
    env = Env()
    cb, created = await env.service.schedule(
        number="2025550143", queue="billing", window_start=NOW + 600, window_end=None, name=None
    )
    assert created
    assert cb.state == "pending"
    assert env.routing.waiting == {}
    assert await env.service.enqueue_due() == 0
    env.clock.t = NOW + 600
    assert await env.service.enqueue_due() == 1
    assert env.routing.waiting[cb.task_id].enqueued_at == NOW + 600


async def test_connected_agent_first_then_the_customer_who_presses_1() -> None:
    env = Env(Answer(talk_s=60), Answer(keys="1", talk_s=0.05))
    cb_id = await env.from_call()
    task_id = env.store.rows[cb_id].task_id
    await env.service.serve_offer(task_id, AGENT)
    (agent_call, customer_call) = env.telephony.dialled
    assert agent_call == ("PJSIP/agent1001", '"Callback: Victoria Hale" <+12025550143>')
    assert customer_call == ("PJSIP/+12025550143@customers", '"Contact Core" <+12025550100>')
    assert len(env.telephony.bridges) == 1
    row = env.store.rows[cb_id]
    assert (row.state, row.attempts, row.last_reason) == ("done", 1, None)
    assert env.routing.calls[-2:] == [
        ("accept", task_id, AGENT),
        ("finish", task_id, AGENT, "wrap"),
    ]
    assert env.recorder.finished[row.data["interaction_id"]] == "callback_connected"
    assert "callback.connected" in env.kinds()


async def test_an_offer_made_the_moment_the_task_is_queued_is_served() -> None:
    """The router may offer a callback task before ``enqueue`` has even returned: the
    callback must already be queued then, or its offer is ignored and nobody calls back."""
    env = Env(Answer(talk_s=60), Answer(keys="1", talk_s=0.05))
    enqueue = env.routing.enqueue
    served: list[str] = []

    async def offered_at_once(task: CallbackTask) -> bool:
        added = await enqueue(task)
        await env.service.serve_offer(task.id, AGENT)
        served.append(env.store.rows[next(iter(env.store.rows))].state)
        return added

    env.routing.enqueue = offered_at_once  # type: ignore[method-assign]
    cb_id = await env.from_call()
    assert served == ["done"]
    assert env.store.rows[cb_id].attempts == 1
    assert ("accept", env.store.rows[cb_id].task_id, AGENT) in env.routing.calls


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        (NoAnswer(cause=19), "no-answer"),
        (NoAnswer(cause=17), "busy"),
        (Answer(keys="", talk_s=60), "no-key"),
        (Answer(keys="5", talk_s=60), "no-key"),
    ],
)
async def test_a_failed_attempt_frees_the_agent_and_retries_after_the_delay(
    customer: Answer | NoAnswer, reason: str
) -> None:
    env = Env(Answer(talk_s=60), customer)
    cb_id = await env.from_call()
    task_id = env.store.rows[cb_id].task_id
    await env.service.serve_offer(task_id, AGENT)
    row = env.store.rows[cb_id]
    assert (row.state, row.attempts, row.last_reason) == ("pending", 1, reason)
    assert row.window_start == NOW + POLICY.retry_s
    assert env.routing.calls[-1] == ("finish", task_id, AGENT, "skip")
    agent_leg = env.telephony.legs[0]
    assert agent_leg.hung_up
    assert agent_leg.played[-1] == ["sound:contactcore/callback-agent-failed"]
    assert not env.telephony.bridges
    # not before the delay; then back in the queue in the caller's original place
    env.clock.t = NOW + POLICY.retry_s - 1
    assert await env.service.enqueue_due() == 0
    env.clock.t = NOW + POLICY.retry_s
    assert await env.service.enqueue_due() == 1
    assert env.routing.waiting[task_id].enqueued_at == NOW - 300


async def test_the_last_attempt_closes_the_callback_as_failed_with_the_reason() -> None:
    env = Env(Answer(talk_s=60), NoAnswer(), Answer(talk_s=60), NoAnswer(cause=17))
    cb_id = await env.from_call()
    task_id = env.store.rows[cb_id].task_id
    await env.service.serve_offer(task_id, AGENT)
    env.clock.t += POLICY.retry_s
    await env.service.enqueue_due()
    await env.service.serve_offer(task_id, AGENT)
    row = env.store.rows[cb_id]
    assert (row.state, row.attempts, row.last_reason) == ("failed", 2, "busy after 2 attempt(s)")
    assert env.recorder.finished[row.data["interaction_id"]] == "callback_failed"
    outcomes = [e.payload["outcome"] for e in env.recorder.events if e.type == "callback.attempt"]
    assert outcomes == ["no-answer", "busy"]
    assert await env.service.pending() == []


async def test_an_agent_who_does_not_answer_is_reported_and_the_place_is_kept() -> None:
    env = Env(NoAnswer())
    cb_id = await env.from_call()
    task_id = env.store.rows[cb_id].task_id
    await env.service.serve_offer(task_id, AGENT)
    row = env.store.rows[cb_id]
    assert (row.state, row.attempts) == ("queued", 0)
    assert env.routing.calls[-1] == ("no_answer", task_id, AGENT)
    assert len(env.telephony.dialled) == 1, "the customer is never dialled first"
    # agents see the callbacks offered to them
    (mine,) = await env.service.pending(agent_id=AGENT)
    assert mine.id == cb_id
    assert await env.service.pending(agent_id="ag_other") == []


async def test_start_recovers_a_callback_that_was_being_dialled_and_requeues_queued_ones() -> None:
    env = Env()
    dialling = await env.from_call("2025550143")
    queued = await env.from_call("2025550144")
    row = env.store.rows[dialling]
    await env.store.update(dialling, {"state": "dialling", "data": row.data | {"agent_id": AGENT}})
    env.routing.waiting.clear()  # Redis came back empty and nothing was rebuilt
    counts = await env.service.start()
    assert counts == {"queued": 1, "recovered": 1}
    assert ("finish", row.task_id, AGENT, "skip") in env.routing.calls
    assert env.store.rows[dialling].state == "queued"
    assert env.store.rows[dialling].last_reason == "interrupted by a restart"
    assert env.store.rows[queued].state == "queued"
    assert set(env.routing.waiting) == {row.task_id, env.store.rows[queued].task_id}


async def test_an_offer_another_process_already_serves_is_left_alone() -> None:
    env = Env(Answer(talk_s=60), Answer(keys="1", talk_s=0.05))
    cb_id = await env.from_call()
    row = env.store.rows[cb_id]
    await env.store.update(cb_id, {"state": "dialling"})  # claimed elsewhere
    await env.service.serve_offer(row.task_id, AGENT)
    assert env.telephony.dialled == []
    assert env.store.rows[cb_id].state == "dialling"


async def test_a_queued_callback_cancelled_leaves_its_queue_and_is_never_rung() -> None:
    env = Env(Answer(talk_s=60), Answer(keys="1", talk_s=0.05))
    cb_id = await env.from_call()
    row = env.store.rows[cb_id]
    cb = await env.service.cancel(cb_id, "customer called in")
    assert (cb.state, cb.last_reason) == ("cancelled", "customer called in")
    assert env.routing.calls[-1] == ("withdraw", row.task_id, "callback-cancelled")
    assert env.routing.waiting == {}
    assert env.recorder.finished[row.data["interaction_id"]] == "callback_cancelled"
    assert env.kinds()[-1] == "callback.closed"
    assert await env.service.pending() == []
    # an offer of its task made before the withdrawal reached the engine: not served
    await env.service.serve_offer(row.task_id, AGENT)
    assert env.telephony.dialled == []


async def test_a_scheduled_callback_cancelled_never_enters_its_queue() -> None:
    env = Env()
    cb, _ = await env.service.schedule(
        number="2025550143", queue="billing", window_start=NOW + 600, window_end=None, name=None
    )
    assert (await env.service.cancel(cb.id)).state == "cancelled"
    assert not any(c[0] == "withdraw" for c in env.routing.calls)
    env.clock.t = NOW + 600
    assert await env.service.enqueue_due() == 0
    assert env.routing.waiting == {}
    # the number may ask again: a new callback, not the cancelled one
    again, created = await env.service.schedule(
        number="2025550143", queue="billing", window_start=NOW + 900, window_end=None, name=None
    )
    assert created
    assert again.id != cb.id


async def test_cancelling_is_refused_while_an_agent_dials_or_after_the_end() -> None:
    env = Env()
    dialling = await env.from_call("2025550143")
    row = env.store.rows[dialling]
    await env.store.update(dialling, {"state": "dialling", "data": row.data | {"agent_id": AGENT}})
    with pytest.raises(Conflict, match=f"being dialled by agent {AGENT}"):
        await env.service.cancel(dialling)
    assert env.store.rows[dialling].state == "dialling"
    done = await env.from_call("2025550144")
    await env.service.cancel(done)
    with pytest.raises(Conflict, match="already cancelled"):
        await env.service.cancel(done)
    with pytest.raises(NotFound, match="cb_nope"):
        await env.service.cancel("cb_nope")


async def test_a_cancel_the_engine_could_not_carry_out_leaves_the_callback_queued() -> None:
    env = Env()
    cb_id = await env.from_call()

    async def broken(task_id: str, reason: str) -> None:
        raise ConnectionError("redis is down")

    env.routing.withdraw = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await env.service.cancel(cb_id)
    row = env.store.rows[cb_id]
    assert row.state == "queued"
    assert row.task_id in env.routing.waiting
    assert "callback.closed" not in env.kinds()
