"""The flow runner against a scripted caller and in-memory ports."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from contactcore.core.directory import CustomerRecord
from contactcore.core.telephony import (
    CallContext,
    CollectEnd,
    QueueOutcome,
    QueueRequest,
    QueueResult,
    Verification,
)
from contactcore.errors import DependencyUnavailable
from contactcore.ivr.idv import IdentityChecker, IdvPolicy, hash_pin
from contactcore.ivr.loader import FlowRegistry
from contactcore.ivr.model import Media, Node, builtin_node_types
from contactcore.ivr.runner import (
    CallRun,
    End,
    FlowResult,
    FlowRunner,
    Next,
    RunOutcome,
    Step,
    builtin_handlers,
)
from contactcore.testing.telephony import (
    Action,
    EventLog,
    FakeClock,
    FakeEnqueuer,
    HangUp,
    InMemoryDirectory,
    InMemoryLockStore,
    Press,
    ScriptedCallSession,
    Silence,
)

PIN = "4321"
ALICE = CustomerRecord(
    id="c-alice", name="Alice", tier="b", account_number="123456", phones=("+441632960001",)
)
VIC = CustomerRecord(
    id="c-vic", name="Vic", tier="vip", account_number="999999", phones=("+441632960002",)
)
PIN_HASHES = {ALICE.id: hash_pin(PIN), VIC.id: hash_pin("2468")}
UNKNOWN_CALLER = "+441632960999"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@dataclass
class Harness:
    registry: FlowRegistry
    runner: FlowRunner
    enqueuer: FakeEnqueuer
    events: EventLog
    locks: InMemoryLockStore
    clock: FakeClock

    async def call(
        self,
        script: list[Action],
        *,
        caller: str | None = ALICE.phones[0],
        number: str = "100",
        context: CallContext | None = None,
    ) -> tuple[FlowResult, ScriptedCallSession]:
        session = ScriptedCallSession(script, caller_number=caller, called_number=number)
        result = await self.runner.run(session, context=context)
        return result, session


def harness(
    tmp_path: Path,
    *flows: str,
    node_types: dict[str, type[Node]] | None = None,
    handlers: dict[str, object] | None = None,
    now: float = at("2026-11-24T15:00:00"),
) -> Harness:
    for i, text in enumerate(flows):
        (tmp_path / f"flow{i}.yaml").write_text(textwrap.dedent(text))
    registry = FlowRegistry(tmp_path, node_types)
    registry.load()
    clock = FakeClock(now)
    locks = InMemoryLockStore()
    identity = IdentityChecker(
        InMemoryDirectory([ALICE, VIC], PIN_HASHES), locks, clock, IdvPolicy("GB", 3, 900.0)
    )
    enqueuer = FakeEnqueuer()
    events = EventLog()
    runner = FlowRunner(
        registry,
        identity=identity,
        enqueuer=enqueuer,
        recorder=events,
        clock=clock,
        handlers=handlers,  # type: ignore[arg-type]
    )
    return Harness(registry, runner, enqueuer, events, locks, clock)


MENU = """
number: "100"
nodes:
  menu:
    type: menu
    prompt: sound:menu
    options: {"1": one, "2": two}
    timeout: 0.05
    retries: 2
    invalid_prompt: sound:invalid
    no_input_prompt: sound:noinput
    default: fallback
  one: {type: queue, queue: one}
  two: {type: queue, queue: two}
  fallback: {type: queue, queue: general}
"""


async def test_menu_invalid_keys_reprompt_then_default(tmp_path: Path) -> None:
    h = harness(tmp_path, MENU)
    result, session = await h.call([Press("9"), Press("7", barge_in=True), Press("5")])
    assert result.outcome is RunOutcome.ANSWERED
    assert [r.queue for r in h.enqueuer.requests] == ["general"]
    assert session.played == [["sound:menu"], ["sound:invalid"]] * 3
    invalid = h.events.of("ivr.menu_invalid")
    assert [e.payload["key"] for e in invalid] == ["9", "7", "5"]
    assert h.events.of("ivr.menu_default")[0].payload["to"] == "fallback"


async def test_menu_invalid_then_valid_key(tmp_path: Path) -> None:
    h = harness(tmp_path, MENU)
    result, session = await h.call([Press("9"), Press("2", barge_in=True)])
    assert [r.queue for r in h.enqueuer.requests] == ["two"]
    assert session.played == [["sound:menu"], ["sound:invalid"], ["sound:menu"]]
    assert result.outcome is RunOutcome.ANSWERED


async def test_menu_no_input_retries(tmp_path: Path) -> None:
    h = harness(tmp_path, MENU)
    _, session = await h.call([Silence(), Silence(), Press("1")])
    assert [r.queue for r in h.enqueuer.requests] == ["one"]
    assert session.played == [
        ["sound:menu"],
        ["sound:noinput"],
        ["sound:menu"],
        ["sound:noinput"],
        ["sound:menu"],
    ]
    assert len(h.events.of("ivr.menu_no_input")) == 2


async def test_menu_silence_to_the_end_takes_default(tmp_path: Path) -> None:
    h = harness(tmp_path, MENU)
    _, session = await h.call([Silence(), Silence(), Silence()])
    assert [r.queue for r in h.enqueuer.requests] == ["general"]
    # No "we did not hear you" after the last try: straight to the default.
    assert session.played[-1] == ["sound:menu"]


COLLECT = """
number: "100"
nodes:
  ask:
    type: collect
    prompt: sound:enter
    store: ref
    min_length: 3
    max_length: 6
    first_digit_timeout: 0.05
    inter_digit_timeout: 0.05
    retries: 1
    invalid_prompt: sound:invalid
    no_input_prompt: sound:noinput
    next: done
    on_failure: failed
  done: {type: queue, queue: done}
  failed: {type: queue, queue: failed}
"""


@pytest.mark.parametrize(
    ("script", "stored", "ended"),
    [
        ([Press("1234#")], "1234", CollectEnd.FINISH_KEY),
        ([Press("123")], "123", CollectEnd.TIMEOUT),
        ([Press("9876543")], "987654", CollectEnd.MAX_LENGTH),
        ([Press("42#", barge_in=True)], None, None),
        ([Press("4", barge_in=True), Press("20#")], "420", CollectEnd.FINISH_KEY),
    ],
)
async def test_collect_finish_key_timeouts_and_lengths(
    tmp_path: Path, script: list[Action], stored: str | None, ended: CollectEnd | None
) -> None:
    h = harness(tmp_path, COLLECT)
    if stored is None:
        script = [*script, Press("555#")]  # too short, so asked again
        stored, ended = "555", CollectEnd.FINISH_KEY
    result, session = await h.call(script)
    assert result.context.attributes["ref"] == stored
    assert session.collected[-1].ended is ended
    assert [r.queue for r in h.enqueuer.requests] == ["done"]
    assert h.events.of("ivr.digits")[-1].payload["digits"] == stored


async def test_collect_too_short_reprompts_with_invalid(tmp_path: Path) -> None:
    h = harness(tmp_path, COLLECT)
    _, session = await h.call([Press("42#", barge_in=True), Press("555#")])
    assert session.played == [["sound:enter"], ["sound:invalid"], ["sound:enter"]]


async def test_collect_no_input_goes_to_failure_branch(tmp_path: Path) -> None:
    h = harness(tmp_path, COLLECT)
    result, session = await h.call([Silence(), Silence()])
    assert "ref" not in result.context.attributes
    assert [r.queue for r in h.enqueuer.requests] == ["failed"]
    assert session.played == [["sound:enter"], ["sound:noinput"], ["sound:enter"]]
    assert [c.ended for c in session.collected] == [CollectEnd.NO_INPUT] * 2


IDV = """
number: "100"
nodes:
  identify: {type: identify, next: verify, not_found: verify}
  verify:
    type: verify
    account_prompt: sound:account
    pin_prompt: sound:pin
    wrong_pin_prompt: sound:wrong
    locked_prompt: sound:locked
    first_digit_timeout: 0.05
    inter_digit_timeout: 0.05
    verified: ok
    failed: unverified
  ok: {type: queue, queue: verified}
  unverified: {type: queue, queue: general}
"""


async def test_identified_caller_verifies_with_pin_only(tmp_path: Path) -> None:
    h = harness(tmp_path, IDV)
    result, session = await h.call([Press(PIN + "#")])
    assert result.context.verification is Verification.VERIFIED
    assert result.context.customer == ALICE
    assert result.context.caller_number == ALICE.phones[0]
    [request] = h.enqueuer.requests
    assert request.queue == "verified"
    assert request.context.verification is Verification.VERIFIED
    assert session.played == [["sound:pin"]]  # the account came from the caller's number
    idv = [(e.payload["step"], e.payload["outcome"]) for e in h.events.of("ivr.idv")]
    assert idv == [("identify", "identified"), ("verify", "verified")]
    # The PIN itself never reaches the timeline.
    pins = [e for e in h.events.of("ivr.digits") if e.payload["field"] == "pin"]
    assert [e.payload["digits"] for e in pins] == ["****"]
    assert all(PIN not in str(e.payload) for e in h.events.events)


async def test_national_format_caller_is_identified(tmp_path: Path) -> None:
    h = harness(tmp_path, IDV)
    result, _ = await h.call([Press(PIN + "#")], caller="01632 960001")
    assert result.context.customer == ALICE
    assert result.context.caller_number == "+441632960001"


async def test_wrong_pin_then_right(tmp_path: Path) -> None:
    h = harness(tmp_path, IDV)
    result, session = await h.call(
        [Press("123456#"), Press("1111#"), Press(PIN + "#")], caller=UNKNOWN_CALLER
    )
    assert result.context.verification is Verification.VERIFIED
    assert result.context.customer == ALICE
    assert session.played == [["sound:account"], ["sound:pin"], ["sound:wrong"], ["sound:pin"]]
    wrong = [e for e in h.events.of("ivr.idv") if e.payload["outcome"] == "wrong_pin"]
    assert wrong[0].payload["attempts_left"] == 2
    assert "123456" not in h.locks.locks  # success clears the failure count


async def test_three_wrong_pins_lock_and_route_on_unverified(tmp_path: Path) -> None:
    h = harness(tmp_path, IDV)
    script: list[Action] = [Press("123456#"), Press("0000#"), Press("1111#"), Press("2222#")]
    result, session = await h.call(script, caller=UNKNOWN_CALLER)
    assert result.outcome is RunOutcome.ANSWERED
    assert result.context.verification is Verification.FAILED
    [request] = h.enqueuer.requests
    assert request.queue == "general"
    assert request.context.verification is Verification.FAILED
    assert session.played[-1] == ["sound:locked"]  # the caller is told
    lock = h.locks.locks["123456"]
    assert lock.failed_attempts == 3
    assert lock.locked_until == h.clock.now() + 900.0
    failed = h.events.of("ivr.idv")[-1]
    assert failed.payload["outcome"] == "failed"
    assert failed.payload["reason"] == "locked"

    # Even with the right PIN, a new call is told at once and not asked for the PIN.
    h.enqueuer.requests.clear()
    result, session = await h.call([Press("123456#"), Press(PIN + "#")], caller=UNKNOWN_CALLER)
    assert result.context.verification is Verification.FAILED
    assert session.played == [["sound:account"], ["sound:locked"]]
    assert [r.queue for r in h.enqueuer.requests] == ["general"]

    # After the lock time the account can be verified again.
    h.clock.t += 901
    result, _ = await h.call([Press("123456#"), Press(PIN + "#")], caller=UNKNOWN_CALLER)
    assert result.context.verification is Verification.VERIFIED


HOURS = """
number: "100"
hours:
  ny:
    timezone: America/New_York
    weekly: {mon-fri: "09:00-17:00"}
    holidays: {country: US}
    closed_dates: ["2026-12-24"]
nodes:
  check:
    type: condition
    rules:
      - when: {open: ny}
        next: open
    else: closed
  open: {type: queue, queue: open}
  closed: {type: hangup, prompt: sound:closed}
"""


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        ("2026-11-24T15:00:00", True),  # Tuesday 10:00 in New York
        ("2026-11-24T13:30:00", False),  # 08:30 in New York (open hours in London)
        ("2026-11-24T21:30:00", True),  # 16:30 in New York (evening in London)
        ("2026-11-24T22:00:00", False),  # 17:00 in New York: closing time
        ("2026-11-26T15:00:00", False),  # Thanksgiving, a public holiday
        ("2026-12-24T15:00:00", False),  # a closed date
        ("2026-11-28T15:00:00", False),  # Saturday
        ("2026-07-07T13:30:00", True),  # 09:30 daylight time (UTC-4)
    ],
)
async def test_condition_on_business_hours_in_time_zone(
    tmp_path: Path, utc: str, is_open: bool
) -> None:
    h = harness(tmp_path, HOURS, now=at(utc))
    result, session = await h.call([])
    if is_open:
        assert [r.queue for r in h.enqueuer.requests] == ["open"]
        assert result.outcome is RunOutcome.ANSWERED
    else:
        assert h.enqueuer.requests == []
        assert session.played == [["sound:closed"]]
        assert session.hung_up
        assert result.outcome is RunOutcome.COMPLETED
    assert h.events.of("ivr.condition")[0].payload["to"] == ("open" if is_open else "closed")


CONDITIONS = """
number: "100"
nodes:
  tier:
    type: condition
    rules:
      - when: {tier: [vip, gold]}
        next: vip
      - when: {attribute: lang, in: [fr, de]}
        next: foreign
      - when: {verified: false, attribute: lang, exists: false}
        next: plain
    else: other
  vip: {type: queue, queue: vip}
  foreign: {type: queue, queue: foreign}
  plain: {type: queue, queue: plain}
  other: {type: queue, queue: other}
"""


@pytest.mark.parametrize(
    ("context", "queue"),
    [
        (CallContext(customer=VIC), "vip"),
        (CallContext(customer=ALICE, attributes={"lang": "fr"}), "foreign"),
        (CallContext(customer=ALICE), "plain"),
        (CallContext(attributes={"lang": "en"}), "other"),
    ],
)
async def test_condition_on_tier_verification_and_attributes(
    tmp_path: Path, context: CallContext, queue: str
) -> None:
    h = harness(tmp_path, CONDITIONS)
    await h.call([], context=context)
    assert [r.queue for r in h.enqueuer.requests] == [queue]


FIRST = """
number: "100"
nodes:
  identify: {type: identify, next: lang}
  lang:
    type: set
    attributes: {lang: fr}
    priority: 5
    skills: {french: 2}
    next: verify
  verify:
    type: verify
    account_prompt: sound:account
    pin_prompt: sound:pin
    wrong_pin_prompt: sound:wrong
    locked_prompt: sound:locked
    first_digit_timeout: 0.05
    inter_digit_timeout: 0.05
    verified: onward
    failed: onward
  onward: {type: transfer, flow: "200"}
"""

SECOND = """
number: "200"
nodes:
  identify: {type: identify, next: verify}
  verify:
    type: verify
    account_prompt: sound:account2
    pin_prompt: sound:pin2
    wrong_pin_prompt: sound:wrong
    locked_prompt: sound:locked
    verified: check
    failed: check
  check:
    type: condition
    rules:
      - when: {verification: [verified]}
        next: secure
    else: general
  secure: {type: queue, queue: secure, skills: {billing: 1}}
  general: {type: queue, queue: general}
"""


async def test_transfer_to_another_flow_keeps_the_context(tmp_path: Path) -> None:
    h = harness(tmp_path, FIRST, SECOND)
    result, session = await h.call([Press(PIN + "#")])
    assert session.played == [["sound:pin"]]  # flow 200 asks nothing again
    [request] = h.enqueuer.requests
    assert request.queue == "secure"
    ctx = request.context
    assert ctx.verification is Verification.VERIFIED
    assert ctx.customer == ALICE
    assert ctx.attributes == {"lang": "fr"}
    assert ctx.flows == ["100", "200"]
    assert request.priority == 5
    assert request.skills == {"french": 2, "billing": 1}
    assert result.flow == "200"
    reused = [e.payload for e in h.events.of("ivr.idv") if e.payload.get("reused")]
    assert [(p["flow"], p["step"]) for p in reused] == [("200", "identify"), ("200", "verify")]
    # The context is plain data: it survives JSON on its way to the agent.
    assert CallContext.model_validate_json(ctx.model_dump_json()) == ctx

    # A later run (an agent's transfer) with that context does not ask either.
    h.enqueuer.requests.clear()
    again, session = await h.call([], number="200", context=result.context)
    assert session.played == []
    assert again.context.interaction_id == result.context.interaction_id
    assert [r.queue for r in h.enqueuer.requests] == ["secure"]


async def test_caller_hangs_up_mid_flow(tmp_path: Path) -> None:
    h = harness(tmp_path, MENU)
    result, session = await h.call([Press("9"), HangUp()])
    assert result.outcome is RunOutcome.ABANDONED
    assert result.node == "menu"
    assert h.enqueuer.requests == []
    assert session.caller_gone
    assert not session.hung_up
    assert h.events.types() == [
        "ivr.flow_entered",
        "ivr.node",
        "ivr.digits",
        "ivr.menu_invalid",
        "ivr.caller_hung_up",
        "ivr.finished",
    ]
    assert h.events.events[-1].payload["outcome"] == "abandoned"
    assert {e.interaction_id for e in h.events.events} == {result.context.interaction_id}


async def test_caller_hangs_up_while_typing(tmp_path: Path) -> None:
    h = harness(tmp_path, COLLECT)
    result, _ = await h.call([HangUp()])
    assert result.outcome is RunOutcome.ABANDONED
    assert h.events.types()[-2:] == ["ivr.caller_hung_up", "ivr.finished"]


QUEUES = """
number: "100"
nodes:
  billing:
    type: queue
    queue: billing
    priority: 3
    overflowed: general
    closed: closed
  general: {type: queue, queue: general}
  closed: {type: hangup, prompt: sound:closed}
"""


@pytest.mark.parametrize(
    ("billing", "outcome", "queues"),
    [
        (QueueOutcome.ANSWERED, RunOutcome.ANSWERED, ["billing"]),
        (QueueOutcome.ABANDONED, RunOutcome.ABANDONED, ["billing"]),
        (QueueOutcome.OVERFLOWED, RunOutcome.ANSWERED, ["billing", "general"]),
        (QueueOutcome.CLOSED, RunOutcome.CLOSED, ["billing"]),
        (QueueOutcome.CALLBACK, RunOutcome.CALLBACK, ["billing"]),
    ],
)
async def test_queue_outcomes_follow_branches(
    tmp_path: Path, billing: QueueOutcome, outcome: RunOutcome, queues: list[str]
) -> None:
    h = harness(tmp_path, QUEUES)
    h.enqueuer.results["billing"] = [QueueResult(outcome=billing, waited=12.5)]
    result, session = await h.call([])
    assert result.outcome is outcome
    assert [r.queue for r in h.enqueuer.requests] == queues
    assert h.enqueuer.requests[0].priority == 3
    left = h.events.of("ivr.queue_left")[0]
    assert left.queue_id == "billing"
    assert left.payload["outcome"] == billing.value
    assert left.payload["waited"] == 12.5
    assert session.hung_up == (billing is QueueOutcome.CLOSED)


async def test_overflow_without_branch_ends_overflowed(tmp_path: Path) -> None:
    h = harness(tmp_path, QUEUES)
    h.enqueuer.results["billing"] = [QueueResult(outcome=QueueOutcome.OVERFLOWED)]
    h.enqueuer.results["general"] = [QueueResult(outcome=QueueOutcome.OVERFLOWED)]
    result, _ = await h.call([])
    assert result.outcome is RunOutcome.OVERFLOWED


async def test_external_transfer_and_unknown_number(tmp_path: Path) -> None:
    h = harness(
        tmp_path,
        'number: "100"\nnodes:\n  out: {type: transfer, number: "+441632960500"}\n',
    )
    result, session = await h.call([])
    assert result.outcome is RunOutcome.TRANSFERRED
    assert session.transferred_to == "+441632960500"

    result, session = await h.call([], number="555")
    assert result.outcome is RunOutcome.FAILED
    assert session.hung_up
    assert h.events.types()[-1] == "ivr.no_flow"


async def test_media_templates_and_prompts_resolve(tmp_path: Path) -> None:
    h = harness(
        tmp_path,
        """
        number: "100"
        prompts: {thanks: "Thank you."}
        nodes:
          ask:
            type: collect
            prompt: sound:enter
            store: ref
            first_digit_timeout: 0.05
            inter_digit_timeout: 0.05
            next: read
          read:
            type: play
            media: [prompt:thanks, "digits:{ref}", "number:{missing}", "tone:ring"]
            next: bye
          bye: {type: hangup}
        """,
    )
    result, session = await h.call([Press("77#")])
    assert session.played[-1] == ["sound:contactcore/thanks", "digits:77", "tone:ring"]
    assert result.outcome is RunOutcome.COMPLETED


class BeepNode(Node):
    """A node kind added from outside, as speech input or callback will be."""

    type: Literal["beep"] = "beep"
    times: int = 1
    next: str
    target_fields = ("next",)


async def _beep(run: CallRun, node: Node) -> Step:
    assert isinstance(node, BeepNode)
    await run.play(["tone:beep"] * node.times)
    await run.record("test.beep", times=node.times)
    return Next(node.next)


async def test_new_node_types_slot_in(tmp_path: Path) -> None:
    types = builtin_node_types()
    types["beep"] = BeepNode
    handlers = {**builtin_handlers(), "beep": _beep}
    h = harness(
        tmp_path,
        'number: "100"\nnodes:\n  b: {type: beep, times: 2, next: q}\n'
        "  q: {type: queue, queue: general}\n",
        node_types=types,
        handlers=handlers,  # type: ignore[arg-type]
    )
    result, session = await h.call([])
    assert session.played == [["tone:beep", "tone:beep"]]
    assert result.outcome is RunOutcome.ANSWERED
    assert h.events.of("test.beep")[0].payload["times"] == 2


DEMO = Path(__file__).resolve().parents[2] / "dialplans" / "main.yaml"


async def _demo(tmp_path: Path) -> Harness:
    return harness(tmp_path, DEMO.read_text())


async def test_demo_flow_vip_caller_goes_to_vip_queue(tmp_path: Path) -> None:
    h = await _demo(tmp_path)
    result, session = await h.call([], caller=VIC.phones[0])
    [request] = h.enqueuer.requests
    # the vip queue itself requires what its agents need; the flow adds no skill
    assert (request.queue, request.priority, request.skills) == ("vip", 10, {})
    assert request.context.verification is Verification.IDENTIFIED
    assert session.played[0] == ["sound:contactcore/welcome"]
    assert result.outcome is RunOutcome.ANSWERED


@pytest.mark.parametrize(
    ("script", "queue", "topic"),
    [
        ([Press("1")], "billing", "billing"),
        ([Press("2", barge_in=True)], "support", "support"),
        ([Press("3"), Press(PIN + "#")], "billing", "account"),
        ([Press("8"), Press("8"), Press("8")], "general", "general"),
    ],
)
async def test_demo_flow_menu(tmp_path: Path, script: list[Action], queue: str, topic: str) -> None:
    h = await _demo(tmp_path)
    await h.call(script)
    [request] = h.enqueuer.requests
    assert request.queue == queue
    assert request.context.attributes["topic"] == topic
    if topic == "account":
        assert request.context.verification is Verification.VERIFIED


async def test_demo_flow_closed_queue(tmp_path: Path) -> None:
    h = await _demo(tmp_path)
    h.enqueuer.results["support"] = [QueueResult(outcome=QueueOutcome.CLOSED)]
    result, session = await h.call([Press("2")])
    assert result.outcome is RunOutcome.CLOSED
    assert session.played[-1] == ["sound:contactcore/closed"]
    assert session.hung_up


class OfferCallbackNode(Node):
    """Stands in for the callback node of a later issue: it follows a queue's branch."""

    type: Literal["offer_callback"] = "offer_callback"
    confirm: Media = ()
    media_fields = ("confirm",)


async def _offer_callback(run: CallRun, node: Node) -> Step:
    assert isinstance(node, OfferCallbackNode)
    assert run.last_queue is not None
    await run.record(
        "test.callback",
        queue_id=run.last_queue_name,
        enqueued_at=run.last_queue.enqueued_at,
        number=run.context.caller_number,
    )
    await run.play(node.confirm)
    await run.session.hangup()
    return End(RunOutcome.CALLBACK)


async def test_callback_node_slots_in_after_the_queue(tmp_path: Path) -> None:
    types = builtin_node_types()
    types["offer_callback"] = OfferCallbackNode
    h = harness(
        tmp_path,
        """
        number: "100"
        nodes:
          q: {type: queue, queue: billing, callback: cb}
          cb: {type: offer_callback, confirm: "sound:thanks"}
        """,
        node_types=types,
        handlers={**builtin_handlers(), "offer_callback": _offer_callback},
    )
    h.enqueuer.results["billing"] = [
        QueueResult(outcome=QueueOutcome.CALLBACK, waited=40.0, enqueued_at=1000.0)
    ]
    result, session = await h.call([])
    assert result.outcome is RunOutcome.CALLBACK
    [event] = h.events.of("test.callback")
    assert event.queue_id == "billing"
    assert event.payload["enqueued_at"] == 1000.0
    assert event.payload["number"] == ALICE.phones[0]
    assert session.played == [["sound:thanks"]]
    assert session.hung_up


class BrokenEnqueuer(FakeEnqueuer):
    async def enqueue(self, request: QueueRequest) -> QueueResult:
        raise DependencyUnavailable("redis: connection refused")


async def test_a_failing_port_ends_the_flow_as_failed_and_recorded(tmp_path: Path) -> None:
    h = harness(tmp_path, QUEUES)
    h.runner.enqueuer = BrokenEnqueuer()
    result, session = await h.call([])
    assert result.outcome is RunOutcome.FAILED
    assert session.hung_up
    [error] = h.events.of("ivr.error")
    assert error.payload["error"] == "DependencyUnavailable"
    assert h.events.events[-1].payload["outcome"] == "failed"


def test_runner_refuses_node_types_without_handler(tmp_path: Path) -> None:
    types = builtin_node_types()
    types["beep"] = BeepNode
    with pytest.raises(ValueError, match="no runner handler for node types: beep"):
        harness(tmp_path, MENU, node_types=types)
