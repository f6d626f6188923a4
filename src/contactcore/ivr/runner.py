"""Walk a call flow for one call.

The runner's core only moves from node to node: what a node does is a handler
looked up by the node's ``type`` (``builtin_handlers()`` plus any the composition
root adds, e.g. ``speech`` or ``callback``). A handler gets the call's
:class:`CallRun` (session, context, timeline, services) and returns the next step.
Every node visited, key pressed and ID&V outcome goes to the timeline as a
:class:`DomainEvent`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from contactcore.core.clock import Clock
from contactcore.core.events import DomainEvent
from contactcore.core.telephony import (
    CallContext,
    CallerHungUp,
    CallSession,
    CollectEnd,
    DigitsResult,
    Enqueuer,
    PlayResult,
    QueueOutcome,
    QueueRequest,
    QueueResult,
    TimelineRecorder,
    Verification,
)
from contactcore.ivr.idv import IdentityChecker, VerifyStatus, normalise_e164
from contactcore.ivr.loader import FlowRegistry
from contactcore.ivr.model import (
    DTMF_KEYS,
    CollectNode,
    ConditionNode,
    Flow,
    HangupNode,
    IdentifyNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    SetNode,
    TransferNode,
    VerifyNode,
)
from contactcore.ivr.rules import holds

log = logging.getLogger(__name__)

N = TypeVar("N", bound=Node)


class RunOutcome(StrEnum):
    """How the call's time in the flow ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller hung up
    OVERFLOWED = "overflowed"
    CLOSED = "closed"
    CALLBACK = "callback"  # left the queue for a callback (see the queue node's branch)
    TRANSFERRED = "transferred"  # to an external number
    COMPLETED = "completed"  # the flow hung up on purpose
    FAILED = "failed"  # no flow for the number, or a flow that never ends


@dataclass(frozen=True)
class Next:
    node: str


@dataclass(frozen=True)
class GotoFlow:
    number: str


@dataclass(frozen=True)
class End:
    outcome: RunOutcome


Step = Next | GotoFlow | End
NodeHandler = Callable[["CallRun", Node], Awaitable[Step]]


@dataclass(frozen=True)
class FlowResult:
    outcome: RunOutcome
    context: CallContext
    flow: str | None
    node: str | None
    queue: QueueResult | None = None


class CallRun:
    """One call's walk: what handlers use to act on the call and record it."""

    def __init__(
        self,
        runner: FlowRunner,
        session: CallSession,
        context: CallContext,
        flow: Flow,
    ) -> None:
        self.runner = runner
        self.session = session
        self.context = context
        self.flow = flow
        self.node_id = flow.start
        self.last_queue: QueueResult | None = None
        self.last_queue_name: str | None = None  # e.g. for a callback node after the queue

    @property
    def clock(self) -> Clock:
        return self.runner.clock

    async def record(self, kind: str, queue_id: str | None = None, **payload: Any) -> None:
        event = DomainEvent(
            type=kind,
            at=self.runner.clock.now(),
            interaction_id=self.context.interaction_id,
            queue_id=queue_id,
            payload={
                "call_id": self.session.call_id,
                "flow": self.flow.number,
                "node": self.node_id,
                **payload,
            },
        )
        try:
            await self.runner.recorder(event)
        except Exception:
            # The caller matters more than the record: log and go on.
            log.exception("call %s: could not record %s", self.session.call_id, kind)

    def resolve(self, media: Sequence[str]) -> list[str]:
        """Media as the session plays it: prompts become sounds, {attribute}s are filled."""
        out: list[str] = []
        for item in media:
            kind, _, value = item.partition(":")
            if value.startswith("{") and value.endswith("}"):
                filled = self.context.attributes.get(value[1:-1])
                if not filled:
                    continue
                value = filled
            if kind == "prompt":
                out.append(f"sound:{self.runner.prompt_prefix}/{value}")
            else:
                out.append(f"{kind}:{value}")
        return out

    async def play(self, media: Sequence[str], interrupt_keys: str = "") -> PlayResult:
        resolved = self.resolve(media)
        if not resolved:
            return PlayResult()
        return await self.session.play(resolved, interrupt_keys=interrupt_keys)

    async def ask_digits(
        self,
        prompt: Sequence[str],
        *,
        max_length: int,
        finish_key: str | None,
        first_digit_timeout: float,
        inter_digit_timeout: float,
        secure: bool,
        field: str,
    ) -> DigitsResult:
        """Play a prompt that a first key may cut short, then gather the rest."""
        played = await self.play(prompt, interrupt_keys=DTMF_KEYS)
        first = played.interrupted_by or ""
        if first and first == finish_key:
            result = DigitsResult(digits="", ended=CollectEnd.FINISH_KEY)
        elif first and max_length == 1:
            result = DigitsResult(digits=first, ended=CollectEnd.MAX_LENGTH)
        else:
            result = await self.session.collect_digits(
                max_digits=max_length,
                first_digit_timeout=first_digit_timeout,
                inter_digit_timeout=inter_digit_timeout,
                finish_keys=finish_key or "",
                initial=first,
            )
        shown = "*" * len(result.digits) if secure else result.digits
        await self.record("ivr.digits", field=field, digits=shown, ended=result.ended.value)
        return result


class FlowRunner:
    """Walks flows for calls; one instance serves every call (all state is in CallRun)."""

    def __init__(
        self,
        registry: FlowRegistry,
        *,
        identity: IdentityChecker,
        enqueuer: Enqueuer,
        recorder: TimelineRecorder,
        clock: Clock,
        handlers: Mapping[str, NodeHandler] | None = None,
        prompt_prefix: str = "contactcore",
        max_steps: int = 1000,
    ) -> None:
        self.registry = registry
        self.identity = identity
        self.enqueuer = enqueuer
        self.recorder = recorder
        self.clock = clock
        self.handlers = dict(handlers if handlers is not None else builtin_handlers())
        missing = sorted(set(registry.node_types) - set(self.handlers))
        if missing:
            # A wiring mistake of the composition root: fail at start-up, not mid-call.
            raise ValueError(f"no runner handler for node types: {', '.join(missing)}")
        self.prompt_prefix = prompt_prefix
        self.max_steps = max_steps

    def new_context(self, session: CallSession) -> CallContext:
        region = self.identity.policy.default_region
        caller = session.caller_number
        return CallContext(
            caller_number=normalise_e164(caller, region) or caller,
            called_number=session.called_number,
        )

    async def run(
        self,
        session: CallSession,
        *,
        number: str | None = None,
        context: CallContext | None = None,
    ) -> FlowResult:
        """Walk the flow of ``number`` (default: the number called) until the call leaves it.

        ``context`` continues what an earlier flow or queue learned (a transfer).
        """
        ctx = context.model_copy(deep=True) if context else self.new_context(session)
        entry = number or session.called_number
        flow = self.registry.flow(entry)
        if flow is None:
            log.error("call %s: no flow for number %s", session.call_id, entry)
            await self._record_plain(session, ctx, "ivr.no_flow", number=entry)
            await _quiet_hangup(session)
            return FlowResult(RunOutcome.FAILED, ctx, None, None)
        run = CallRun(self, session, ctx, flow)
        ctx.flows.append(flow.number)
        await run.record("ivr.flow_entered", number=flow.number, name=flow.name)
        try:
            outcome = await self._walk(run)
        except Exception as exc:
            # A fault in a port or handler ends this call's flow, classified and recorded.
            log.exception(
                "call %s: flow %s failed at node %s", session.call_id, run.flow.number, run.node_id
            )
            await run.record("ivr.error", error=type(exc).__name__, detail=str(exc)[:200])
            outcome = RunOutcome.FAILED
        await run.record("ivr.finished", outcome=outcome.value)
        log.info(
            "call %s: flow %s ended at node %s: %s",
            session.call_id,
            run.flow.number,
            run.node_id,
            outcome.value,
        )
        if outcome is RunOutcome.FAILED:
            await _quiet_hangup(session)
        return FlowResult(outcome, ctx, run.flow.number, run.node_id, run.last_queue)

    async def _walk(self, run: CallRun) -> RunOutcome:
        try:
            for _ in range(self.max_steps):
                node = run.flow.nodes[run.node_id]
                handler = self.handlers.get(node.type)
                if handler is None:
                    log.error(
                        "call %s: no handler for node type %s", run.session.call_id, node.type
                    )
                    return RunOutcome.FAILED
                log.debug("call %s: node %s (%s)", run.session.call_id, run.node_id, node.type)
                await run.record("ivr.node", node_type=node.type)
                step = await handler(run, node)
                if isinstance(step, End):
                    return step.outcome
                if isinstance(step, GotoFlow):
                    target = self.registry.flow(step.number)
                    if target is None:
                        log.error("call %s: no flow %s", run.session.call_id, step.number)
                        return RunOutcome.FAILED
                    await run.record("ivr.flow_transfer", to_flow=target.number)
                    run.flow = target
                    run.node_id = target.start
                    run.context.flows.append(target.number)
                    await run.record("ivr.flow_entered", number=target.number, name=target.name)
                else:
                    run.node_id = step.node
            log.error("call %s: flow did not end in %s steps", run.session.call_id, self.max_steps)
            return RunOutcome.FAILED
        except CallerHungUp:
            await run.record("ivr.caller_hung_up")
            last = run.last_queue.outcome if run.last_queue else None
            if last is QueueOutcome.CLOSED:
                return RunOutcome.CLOSED  # hung up during the closed message
            if last is QueueOutcome.OVERFLOWED:
                return RunOutcome.OVERFLOWED
            return RunOutcome.ABANDONED

    async def _record_plain(
        self, session: CallSession, ctx: CallContext, kind: str, **payload: Any
    ) -> None:
        event = DomainEvent(
            type=kind,
            at=self.clock.now(),
            interaction_id=ctx.interaction_id,
            payload={"call_id": session.call_id, **payload},
        )
        try:
            await self.recorder(event)
        except Exception:
            log.exception("call %s: could not record %s", session.call_id, kind)


async def _quiet_hangup(session: CallSession) -> None:
    with contextlib.suppress(CallerHungUp):
        await session.hangup()


def _as(node: Node, kind: type[N]) -> N:
    if not isinstance(node, kind):
        raise TypeError(f"handler for {kind.__name__} got {type(node).__name__}")
    return node


# ---- built-in node handlers -------------------------------------------------


async def _play(run: CallRun, node: Node) -> Step:
    n = _as(node, PlayNode)
    await run.play(n.media_items)
    return Next(n.next)


async def _menu(run: CallRun, node: Node) -> Step:
    n = _as(node, MenuNode)
    for attempt in range(n.retries + 1):
        result = await run.ask_digits(
            n.prompt,
            max_length=1,
            finish_key=None,
            first_digit_timeout=n.timeout,
            inter_digit_timeout=n.timeout,
            secure=False,
            field="menu",
        )
        key = result.digits[:1]
        if key in n.options:
            await run.record("ivr.menu_choice", key=key, to=n.options[key])
            return Next(n.options[key])
        retry = attempt < n.retries
        if not key:
            await run.record("ivr.menu_no_input", attempt=attempt + 1)
            if retry:
                await run.play(n.no_input_prompt)
        else:
            await run.record("ivr.menu_invalid", key=key, attempt=attempt + 1)
            await run.play(n.invalid_prompt)
    await run.record("ivr.menu_default", to=n.default)
    return Next(n.default)


async def _collect(run: CallRun, node: Node) -> Step:
    n = _as(node, CollectNode)
    for attempt in range(n.retries + 1):
        result = await run.ask_digits(
            n.prompt,
            max_length=n.max_length,
            finish_key=n.finish_key,
            first_digit_timeout=n.first_digit_timeout,
            inter_digit_timeout=n.inter_digit_timeout,
            secure=n.secure,
            field=n.store,
        )
        if n.min_length <= len(result.digits) <= n.max_length:
            run.context.attributes[n.store] = result.digits
            return Next(n.next)
        last = attempt == n.retries
        if not result.digits:
            await run.record("ivr.collect_no_input", attempt=attempt + 1)
            if not last:
                await run.play(n.no_input_prompt)
        else:
            await run.record("ivr.collect_invalid", attempt=attempt + 1, length=len(result.digits))
            await run.play(n.invalid_prompt)
    await run.record("ivr.collect_failed", to=n.on_failure or n.next)
    return Next(n.on_failure or n.next)


async def _identify(run: CallRun, node: Node) -> Step:
    n = _as(node, IdentifyNode)
    ctx = run.context
    if ctx.customer is not None and ctx.verification is not Verification.UNKNOWN:
        await run.record("ivr.idv", step="identify", outcome=ctx.verification.value, reused=True)
        return Next(n.next)
    e164, customer = await run.runner.identity.identify(run.session.caller_number)
    if e164:
        ctx.caller_number = e164
    if customer is None:
        await run.record("ivr.idv", step="identify", outcome="unknown", caller=e164)
        return Next(n.not_found or n.next)
    ctx.customer = customer
    ctx.verification = Verification.IDENTIFIED
    await run.record(
        "ivr.idv", step="identify", outcome="identified", customer_id=customer.id, caller=e164
    )
    return Next(n.next)


async def _verify(run: CallRun, node: Node) -> Step:
    n = _as(node, VerifyNode)
    ctx = run.context
    identity = run.runner.identity
    if ctx.verification in (Verification.VERIFIED, Verification.FAILED):
        # Already decided earlier in this call (e.g. before a transfer): never ask again.
        await run.record("ivr.idv", step="verify", outcome=ctx.verification.value, reused=True)
        return Next(n.verified if ctx.verification is Verification.VERIFIED else n.failed)

    async def fail(reason: str, **extra: Any) -> Step:
        ctx.verification = Verification.FAILED
        await run.record("ivr.idv", step="verify", outcome="failed", reason=reason, **extra)
        return Next(n.failed)

    known = ctx.customer.account_number if ctx.customer else None
    account = known if n.ask_account == "auto" and known else None
    if account is None:
        for _ in range(2):
            got = await run.ask_digits(
                n.account_prompt,
                max_length=n.account_max_length,
                finish_key="#",
                first_digit_timeout=n.first_digit_timeout,
                inter_digit_timeout=n.inter_digit_timeout,
                secure=False,
                field="account",
            )
            if n.account_min_length <= len(got.digits) <= n.account_max_length:
                account = got.digits
                break
            await run.play(n.no_input_prompt)
        if account is None:
            return await fail("no_account")
    locked_until = await identity.is_locked(account)
    if locked_until is not None:
        await run.play(n.locked_prompt)
        return await fail("locked", account=account, locked_until=locked_until)
    for _ in range(identity.policy.max_attempts):
        pin = await run.ask_digits(
            n.pin_prompt,
            max_length=n.pin_max_length,
            finish_key="#",
            first_digit_timeout=n.first_digit_timeout,
            inter_digit_timeout=n.inter_digit_timeout,
            secure=True,
            field="pin",
        )
        if len(pin.digits) < n.pin_min_length:
            # Nothing (or too little) typed is not a wrong PIN: it does not count to the lock.
            await run.play(n.no_input_prompt or n.wrong_pin_prompt)
            continue
        outcome = await identity.verify(account, pin.digits)
        if outcome.status is VerifyStatus.VERIFIED:
            ctx.verification = Verification.VERIFIED
            ctx.customer = outcome.customer
            ctx.verified_account = account
            customer_id = outcome.customer.id if outcome.customer else None
            await run.record(
                "ivr.idv",
                step="verify",
                outcome="verified",
                account=account,
                customer_id=customer_id,
            )
            return Next(n.verified)
        if outcome.status is VerifyStatus.LOCKED:
            await run.play(n.locked_prompt)
            return await fail("locked", account=account, locked_until=outcome.locked_until)
        await run.record(
            "ivr.idv",
            step="verify",
            outcome="wrong_pin",
            account=account,
            attempts_left=outcome.attempts_left,
        )
        await run.play(n.wrong_pin_prompt)
    return await fail("attempts", account=account)


async def _condition(run: CallRun, node: Node) -> Step:
    n = _as(node, ConditionNode)
    hours = run.runner.registry.current.hours
    now = run.clock.now()
    for i, rule in enumerate(n.rules, 1):
        if holds(rule.when, run.context, hours, now):
            await run.record("ivr.condition", rule=i, to=rule.next)
            return Next(rule.next)
    await run.record("ivr.condition", rule=None, to=n.otherwise)
    return Next(n.otherwise)


async def _set(run: CallRun, node: Node) -> Step:
    n = _as(node, SetNode)
    ctx = run.context
    ctx.attributes.update(n.attributes)
    if n.priority is not None:
        ctx.priority = n.priority
    ctx.skills.update(n.skills)
    await run.record(
        "ivr.set", attributes=dict(n.attributes), priority=n.priority, skills=dict(n.skills)
    )
    return Next(n.next)


async def _queue(run: CallRun, node: Node) -> Step:
    n = _as(node, QueueNode)
    ctx = run.context
    request = QueueRequest(
        call_id=run.session.call_id,
        queue=n.queue,
        priority=n.priority if n.priority is not None else ctx.priority,
        skills={**ctx.skills, **n.skills},
        context=ctx.model_copy(deep=True),
    )
    await run.record(
        "ivr.queue_entered", queue_id=n.queue, priority=request.priority, skills=request.skills
    )
    result = await run.runner.enqueuer.enqueue(request)
    run.last_queue = result
    run.last_queue_name = n.queue
    await run.record(
        "ivr.queue_left",
        queue_id=n.queue,
        outcome=result.outcome.value,
        waited=result.waited,
        agent_id=result.agent_id,
    )
    if result.outcome is QueueOutcome.ABANDONED:
        return End(RunOutcome.ABANDONED)
    branch = {
        QueueOutcome.ANSWERED: n.answered,
        QueueOutcome.OVERFLOWED: n.overflowed,
        QueueOutcome.CLOSED: n.closed,
        QueueOutcome.CALLBACK: n.callback,
    }[result.outcome]
    if branch is not None:
        return Next(branch)
    return End(RunOutcome(result.outcome.value))


async def _transfer(run: CallRun, node: Node) -> Step:
    n = _as(node, TransferNode)
    if n.flow is not None:
        return GotoFlow(n.flow)
    assert n.number is not None  # the model requires one of the two
    await run.record("ivr.transfer_external", number=n.number)
    await run.session.transfer_external(n.number)
    return End(RunOutcome.TRANSFERRED)


async def _hangup(run: CallRun, node: Node) -> Step:
    n = _as(node, HangupNode)
    await run.play(n.prompt)
    if n.outcome is not None:
        outcome = RunOutcome(n.outcome)
    elif run.last_queue is not None and run.last_queue.outcome in (
        QueueOutcome.CLOSED,
        QueueOutcome.OVERFLOWED,
        QueueOutcome.CALLBACK,
    ):
        outcome = RunOutcome(run.last_queue.outcome.value)
    else:
        outcome = RunOutcome.COMPLETED
    await run.session.hangup()
    return End(outcome)


def builtin_handlers() -> dict[str, NodeHandler]:
    """Handlers of the built-in node types; add e.g. ``speech`` or ``callback`` to a copy."""
    return {
        "play": _play,
        "menu": _menu,
        "collect": _collect,
        "identify": _identify,
        "verify": _verify,
        "condition": _condition,
        "set": _set,
        "queue": _queue,
        "transfer": _transfer,
        "hangup": _hangup,
    }
