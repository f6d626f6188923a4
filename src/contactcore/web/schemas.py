"""Request and response bodies of the JSON API (also the source of the OpenAPI schemas)."""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contactcore.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

SkillName = str
Level = int


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorOut(BaseModel):
    error: str = Field(description="stable error id, e.g. invalid_input")
    message: str = Field(description="what went wrong; starts with the field at fault")


class LoginIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "agent1001", "password": "demo-agent1001"}]}
    )
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class MeOut(BaseModel):
    id: str
    username: str
    name: str
    role: Literal["agent", "supervisor", "admin"]
    skills: dict[str, int]
    capacities: dict[str, int]
    blocks: dict[str, list[str]] = Field(
        description="cross-channel rules in force: channel in hand -> channels it blocks"
    )


class LoginOut(BaseModel):
    csrf_token: str = Field(description="send back as X-CSRF-Token on every change")
    expires_at: float
    user: MeOut


class TokenIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"label": "nightly report"}, {}]})
    label: str = Field(default="", max_length=128)
    ttl_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as 'Authorization: Bearer <token>'")
    label: str
    expires_at: float


class PresenceIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"presence": "available"},
                {"presence": "not_ready", "reason": "lunch"},
                {"presence": "offline"},
            ]
        }
    )
    presence: Literal["available", "not_ready", "offline"]
    reason: str | None = Field(default=None, max_length=128)


class PresenceOut(BaseModel):
    agent_id: str
    presence: Literal["available", "not_ready", "offline"]
    reason: str | None


class AgentOut(BaseModel):
    id: str
    username: str
    name: str
    role: str
    skills: dict[str, int]
    capacities: dict[str, int]
    blocks: dict[str, list[str]] = Field(
        description="cross-channel rules in force: channel in hand -> channels it blocks"
    )
    presence: Literal["available", "not_ready", "offline"]
    reason: str | None
    state: Literal["available", "busy", "wrap_up", "not_ready", "offline"]
    tasks: list[str] = Field(description="task ids offered to or assigned to the agent")
    time_in_state_s: float | None = Field(description="None while offline")


class AgentsOut(BaseModel):
    agents: list[AgentOut]


class TaskPositionOut(BaseModel):
    task_id: str
    position: int
    waited_s: float
    ewt_s: float = Field(description="-1 while unknown")


class QueueOut(BaseModel):
    name: str
    open: bool
    waiting: int
    longest_wait_s: float
    ewt_s: float = Field(description="estimated wait of a task joining now; -1 while unknown")
    ewt_method: str
    agents: dict[str, int] = Field(description="agents serving the queue, by state")
    tasks: list[TaskPositionOut]


class QueuesOut(BaseModel):
    queues: list[QueueOut]


class QueueOpenIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"open": False}]})
    open: bool


class QueueOpenOut(BaseModel):
    name: str
    open: bool


class SkillsIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"skills": {"english": 8, "billing": 5}, "capacities": {"voice": 1, "chat": 2}},
                {"skills": {"english": 3}},
                {
                    "skills": {"english": 5},
                    "capacities": {"voice": 1, "chat": 3},
                    "blocks": {"voice": ["chat", "email"], "chat": []},
                },
            ]
        }
    )
    skills: dict[SkillName, Level]
    capacities: dict[str, int] | None = None
    blocks: dict[str, list[str]] | None = Field(
        default=None,
        description="cross-channel rules: channel in hand -> channels it blocks (a call in "
        "hand blocks new chats and emails); left out: unchanged",
    )

    @model_validator(mode="after")
    def _ranges(self) -> SkillsIn:
        for name, level in self.skills.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skills.{name}: level {level} is not between 1 and 10")
        for channel, n in (self.capacities or {}).items():
            if not 0 <= n <= 50:
                raise ValueError(f"capacities.{channel}: {n} is not between 0 and 50")
        for channel, blocked in (self.blocks or {}).items():
            if channel in blocked:
                raise ValueError(f"blocks.{channel}: a channel does not block itself")
        return self


class TaskIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"priority": 50}, {"queue": "billing"}]}
    )
    priority: float | None = Field(default=None, ge=-1000, le=1000)
    queue: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _something(self) -> TaskIn:
        if self.priority is None and self.queue is None:
            raise ValueError("body: give priority, queue or both")
        return self


class TaskOut(BaseModel):
    task_id: str
    priority: float | None
    queue: str | None


class RoutingStepOut(BaseModel):
    type: str = Field(
        description="task.enqueued, task.offered, task.rejected, task.rona, "
        "task.assigned, task.overflowed, task.moved, task.completed ..."
    )
    at: float
    agent_id: str | None
    queue_id: str | None
    payload: dict[str, Any] = Field(
        description="the event's payload; on task.offered and task.assigned the "
        "explanation: strategy, relaxation step, required levels, priority then, eligible "
        "agents, winner, runner-up and why (see docs/acd.md)"
    )


class TaskRoutingOut(BaseModel):
    task_id: str
    assigned_to: str | None = Field(description="the agent who accepted it, if anyone has")
    why: str | None = Field(description="why it went to that agent, in words")
    runner_up: str | None = Field(description="the agent who came next, if any")
    steps: list[RoutingStepOut]


class CallbackIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "+12025550143",
                    "queue": "general",
                    "window_start": 1800000000.0,
                    "window_end": 1800003600.0,
                    "name": "Dana Whitfield",
                }
            ]
        }
    )
    number: str = Field(
        min_length=1, max_length=32, description="E.164, or national in the configured region"
    )
    queue: str = Field(min_length=1, max_length=64)
    window_start: float = Field(description="epoch seconds; the callback enters the queue then")
    window_end: float | None = Field(default=None, description="epoch seconds")
    name: str | None = Field(default=None, max_length=128, description="shown to the agent")


class CallbackOut(BaseModel):
    id: str
    task_id: str
    queue: str
    number: str
    name: str | None
    state: Literal["pending", "queued", "dialling", "done", "failed", "cancelled"]
    attempts: int
    last_reason: str | None
    requested_at: float
    window_start: float
    window_end: float | None
    enqueued_at: float = Field(description="its place in the queue (the original call's time)")
    agent_id: str | None = Field(description="the agent it was last offered to")
    interaction_id: str | None


class CallbacksOut(BaseModel):
    callbacks: list[CallbackOut]


class TransferIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queue": "billing"}]})
    queue: str = Field(min_length=1, max_length=64, description="the queue to transfer to")


class TransferOut(BaseModel):
    agent_id: str
    task_id: str = Field(description="the task of the call being transferred")
    from_queue: str
    queue: str = Field(description="the queue the caller is transferred to")
    interaction_id: str | None
    status: Literal["requested"] = Field(
        description="the call's controller carries it out; the new task's routing events "
        "follow on the live event stream"
    )


class OkOut(BaseModel):
    ok: bool


# -- agent desktop and supervisor console --------------------------------------------------
DispositionCode = Literal["resolved", "follow_up", "escalated", "callback_promised", "no_action"]


class PastInteractionOut(BaseModel):
    id: str
    channel: str
    started_at: float
    ended_at: float | None
    outcome: str | None
    queue: str | None
    disposition: str | None


class CustomerOut(BaseModel):
    id: str | None
    name: str | None = Field(description="None when the customer is not known")
    tier: str | None
    verified: bool
    ivr_path: list[str] = Field(description="what the caller did before the queue, in words")
    previous: list[PastInteractionOut] = Field(description="latest interactions, newest first")


class WorkTaskOut(BaseModel):
    task_id: str
    channel: str
    queue: str
    state: Literal["offered", "assigned"]
    priority: float
    waited_s: float = Field(description="since the task first entered a queue")
    offer_deadline: float | None = Field(description="epoch seconds; None once accepted")
    customer: CustomerOut
    attributes: dict[str, Any]
    actions: list[Literal["accept", "reject", "complete", "transfer"]] = Field(
        description="what the desktop may do with it now (a call is answered on the phone)"
    )


class WrapUpOut(BaseModel):
    task_id: str
    channel: str
    until: float | None = Field(description="when wrap-up ends by itself (epoch seconds)")


class WorkOut(BaseModel):
    agent_id: str
    logged_in: bool
    presence: Literal["available", "not_ready", "offline"]
    reason: str | None
    state: Literal["available", "busy", "wrap_up", "not_ready", "offline"]
    tasks: list[WorkTaskOut]
    wrapups: list[WrapUpOut]


class RejectIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "wrong language"}, {}]})
    reason: str | None = Field(default=None, min_length=1, max_length=64)


class TaskActionOut(BaseModel):
    task_id: str
    state: Literal["assigned", "rejected", "completed"]


class WrapUpIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"task_id": "tk_01example", "disposition": "resolved", "note": "refund sent"},
                {"task_id": "tk_01example", "disposition": "follow_up", "end": False},
            ]
        }
    )
    task_id: str = Field(min_length=1, max_length=40)
    disposition: DispositionCode
    note: str = Field(default="", max_length=2000)
    end: bool = Field(default=True, description="end wrap-up now (the agent is ready again)")


class WrapUpDoneOut(BaseModel):
    task_id: str
    disposition: str
    interaction_id: str | None = Field(description="the interaction it was stored with")
    wrapup_ended: bool


class AgentStatsOut(BaseModel):
    agent_id: str
    since: float = Field(description="start of today (midnight in timezone), epoch seconds")
    timezone: str = Field(description="the centre's time zone ([web] timezone), IANA name")
    offered: int
    accepted: int
    rejected: int
    missed: int = Field(description="offers that rang out or timed out (RONA)")
    completed: int
    handle_time_s: float = Field(description="total handle time of the completed tasks")
    average_handle_time_s: float | None
    completed_by_channel: dict[str, int]


class WallboardQueueOut(QueueOut):
    service_level_s: float = Field(description="answer threshold of the service level")
    service_level_pct: float | None = Field(
        description="today: answered within the threshold / (answered + abandoned); "
        "None before the first"
    )
    answered: int
    abandoned: int
    answered_in_sl: int


class WallboardOut(BaseModel):
    since: float = Field(description="start of today (midnight in timezone), epoch seconds")
    timezone: str = Field(description="the centre's time zone ([web] timezone), IANA name")
    queues: list[WallboardQueueOut]


class AuditEntryOut(BaseModel):
    at: float
    actor_id: str
    actor_role: str
    action: str
    target: str
    before: dict[str, Any]
    after: dict[str, Any]


class AuditOut(BaseModel):
    entries: list[AuditEntryOut] = Field(description="newest first")


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


async def parse(request: web.Request, model: type[M]) -> M:
    """The body as ``model``; InvalidInput (400) naming the field at fault otherwise."""
    raw = await request.read()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("body: not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("body: must be a JSON object", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            where = _where(err["loc"])
            parts.append(
                msg
                if msg.startswith(("skills.", "capacities.", "blocks.", "body:"))
                else f"{where}: {msg}"
            )
        first = parts[0].split(":", 1)[0]
        raise InvalidInput("; ".join(parts), field=first) from None
