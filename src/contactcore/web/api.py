"""The JSON API under ``/api/v1``: thin handlers (validate, call a service, serialise).

Every route is one :class:`Endpoint` in :data:`ENDPOINTS`; the same table registers the
route, enforces its roles and generates the OpenAPI document, so they cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from contactcore.acd.model import AgentConfig, AgentLive, Presence, WorkItem
from contactcore.acd.service import RoutingService
from contactcore.callback.model import Callback
from contactcore.callback.service import CallbackService
from contactcore.channels.voice_transfer import VoiceTransfers
from contactcore.core.auth import ROLES, SUPERVISORS, StaffMember
from contactcore.core.desk import Disposition
from contactcore.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound
from contactcore.web import desk
from contactcore.web import schemas as s
from contactcore.web.auth import (
    AUTH,
    CREDENTIAL,
    SESSION_COOKIE,
    audit,
    deny,
    member_of,
    new_secret,
    require_self_or,
    secret_hash,
    verify_password,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EVERYONE = frozenset(ROLES)

ROUTING = web.AppKey("routing", RoutingService)
CALLBACKS = web.AppKey("callbacks", CallbackService)
TRANSFERS = web.AppKey("transfers", VoiceTransfers)


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: frozenset[str]  # empty: no login needed
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tag: str = "api"
    query: tuple[str, ...] = ()
    required_query: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()  # documented beyond the usual 400/401/403/404/409
    also_ok: tuple[int, ...] = ()  # other success statuses with the same body


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


def _agent_config(m: StaffMember) -> AgentConfig:
    return AgentConfig.stored(m.id, m.skills, m.capacities, m.blocks)


def _blocks(m: StaffMember) -> dict[str, list[str]]:
    """The rules in force: the member's own, or the engine's default."""
    return {k: list(v) for k, v in _agent_config(m).blocks.items()}


def _me(m: StaffMember) -> s.MeOut:
    return s.MeOut(
        id=m.id,
        username=m.username,
        name=m.name,
        role=m.role,
        skills=m.skills,
        capacities=m.capacities,
        blocks=_blocks(m),
    )


async def _live(routing: RoutingService, agent_id: str) -> AgentLive | None:
    return next((a for a in await routing.live_agents() if a.agent_id == agent_id), None)


# -- authentication ------------------------------------------------------------------------
def _client(request: web.Request) -> str:
    return request.remote or "unknown"


async def login(request: web.Request) -> web.Response:
    body = await s.parse(request, s.LoginIn)
    auth = request.app[AUTH]
    keys = (f"user:{body.username.lower()}", f"addr:{_client(request)}")
    wait = auth.throttle.retry_after(keys)
    if wait > 0:
        log.warning(
            "login refused for %s from %s: locked for %.0fs more",
            body.username,
            _client(request),
            wait,
        )
        raise deny(
            429,
            "login_throttled",
            f"too many failed logins; try again in {wait:.0f}s",
            **{"Retry-After": str(max(1, round(wait)))},
        )
    found = await auth.staff.login_record(body.username)
    ok = await verify_password(found[1] if found else None, body.password)
    if found is None or not ok:
        n = auth.throttle.failed(keys)
        log.warning("login failed for %s from %s (%d failures)", body.username, _client(request), n)
        raise deny(401, "login_failed", "username or password: wrong")
    auth.throttle.succeeded(keys[:1])  # not the address: one good login must not reset it
    member = found[0]
    session, csrf = new_secret(), new_secret()
    expires = auth.clock.now() + auth.config.session_ttl_s
    await auth.credentials.add_credential(
        secret_hash(session), "session", member.id, secret_hash(csrf), expires
    )
    log.info("login %s (%s) from %s", member.username, member.role, _client(request))
    resp = _json(s.LoginOut(csrf_token=csrf, expires_at=expires, user=_me(member)))
    resp.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=int(auth.config.session_ttl_s),
        path="/",
        secure=auth.config.cookie_secure,
        httponly=True,
        samesite="Strict",
    )
    return resp


async def logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    await auth.credentials.revoke(request[CREDENTIAL])
    log.info("logout %s", member_of(request).username)
    resp = _json(s.OkOut(ok=True))
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def create_token(request: web.Request) -> web.Response:
    body = await s.parse(request, s.TokenIn)
    auth = request.app[AUTH]
    member = member_of(request)
    ttl = body.ttl_days * 86400.0 if body.ttl_days else auth.config.token_ttl_s
    token = new_secret()
    expires = auth.clock.now() + ttl
    await auth.credentials.add_credential(
        secret_hash(token), "token", member.id, None, expires, body.label
    )
    log.info("bearer token '%s' created for %s", body.label, member.username)
    return _json(s.TokenOut(token=token, label=body.label, expires_at=expires), status=201)


async def me(request: web.Request) -> web.Response:
    return _json(_me(member_of(request)))


# -- agents ---------------------------------------------------------------------------------
async def put_presence(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    require_self_or(request, agent_id, SUPERVISORS)
    body = await s.parse(request, s.PresenceIn)
    auth, routing = request.app[AUTH], request.app[ROUTING]
    target = await auth.staff.member(agent_id)
    if target is None:
        raise NotFound(f"agent_id: agent {agent_id} not found", agent_id=agent_id)
    live = await _live(routing, agent_id)
    presence = Presence(body.presence)
    if live is None:
        if presence is not Presence.OFFLINE:  # not logged in yet: log in with this presence
            await routing.login(_agent_config(target), presence, body.reason)
    else:
        await routing.set_presence(agent_id, presence, body.reason)
    await audit(
        request,
        "agent.presence",
        agent_id,
        {
            "presence": str(live.presence) if live else "offline",
            "reason": live.reason if live else None,
        },
        {"presence": body.presence, "reason": body.reason},
    )
    return _json(s.PresenceOut(agent_id=agent_id, presence=body.presence, reason=body.reason))


async def list_agents(request: web.Request) -> web.Response:
    auth, routing = request.app[AUTH], request.app[ROUTING]
    live = {a.agent_id: a for a in await routing.live_agents()}
    out = []
    for m in await auth.staff.members():
        a = live.get(m.id)
        if m.role != "agent" and a is None:
            continue
        out.append(
            s.AgentOut(
                id=m.id,
                username=m.username,
                name=m.name,
                role=m.role,
                skills=m.skills,
                capacities=m.capacities,
                blocks=_blocks(m),
                presence=str(a.presence) if a else "offline",
                reason=a.reason if a else None,
                state=a.state if a else "offline",
                tasks=list(a.tasks) if a else [],
                time_in_state_s=a.time_in_state_s if a else None,
            )
        )
    return _json(s.AgentsOut(agents=out))


async def put_skills(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    body = await s.parse(request, s.SkillsIn)
    auth, routing = request.app[AUTH], request.app[ROUTING]
    before = await auth.staff.member(agent_id)
    if before is None:
        raise NotFound(f"agent_id: agent {agent_id} not found", agent_id=agent_id)
    after = await auth.staff.set_skills(agent_id, body.skills, body.capacities, body.blocks)
    if await _live(routing, agent_id) is not None:
        await routing.update_agent(_agent_config(after))  # the next decision honours it
    await audit(
        request,
        "agent.skills",
        agent_id,
        {"skills": before.skills, "capacities": before.capacities, "blocks": _blocks(before)},
        {"skills": after.skills, "capacities": after.capacities, "blocks": _blocks(after)},
    )
    return _json(_me(after))


async def post_transfer(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    member = require_self_or(request, agent_id, SUPERVISORS)
    body = await s.parse(request, s.TransferIn)
    transfers = request.app.get(TRANSFERS)
    if transfers is None:
        raise DependencyUnavailable("transfers: this server does not carry calls")
    done = await transfers.request(agent_id, body.queue, member.id)
    await audit(
        request, "call.transfer", done.task_id, {"queue": done.from_queue}, {"queue": body.queue}
    )
    return _json(
        s.TransferOut(
            agent_id=agent_id,
            task_id=done.task_id,
            from_queue=done.from_queue,
            queue=done.to_queue,
            interaction_id=done.interaction_id,
            status="requested",
        ),
        status=202,
    )


# -- queues and tasks -------------------------------------------------------------------------
async def list_queues(request: web.Request) -> web.Response:
    stats = await request.app[ROUTING].live_numbers()
    return _json(s.QueuesOut(queues=[desk.queue_out(q) for q in stats]))


async def put_queue_open(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await s.parse(request, s.QueueOpenIn)
    auth, routing = request.app[AUTH], request.app[ROUTING]
    was = next((q.open for q in await routing.live_numbers() if q.queue_id == name), None)
    if was is None:
        raise NotFound(f"name: queue {name} not found", queue=name)
    await routing.set_queue_open(name, body.open)
    await auth.staff.set_queue_open(name, body.open)
    await audit(request, "queue.open", name, {"open": was}, {"open": body.open})
    return _json(s.QueueOpenOut(name=name, open=body.open))


async def put_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    body = await s.parse(request, s.TaskIn)
    routing = request.app[ROUTING]
    queue = next(
        (q.queue_id for q in await routing.live_numbers() for t in q.tasks if t.task_id == task_id),
        None,
    )
    if queue is None:
        raise NotFound(f"task_id: task {task_id} is not waiting in any queue", task_id=task_id)
    if body.priority is not None:
        await routing.set_priority(task_id, body.priority)
    if body.queue is not None and body.queue != queue:
        await routing.move_task(task_id, body.queue)
    await audit(
        request,
        "task.update",
        task_id,
        {"queue": queue},
        body.model_dump(exclude_none=True),
    )
    return _json(s.TaskOut(task_id=task_id, priority=body.priority, queue=body.queue or queue))


async def get_task_routing(request: web.Request) -> web.Response:
    """Why did this task go to her and not to me: its routing story from the history."""
    task_id = request.match_info["task_id"]
    story = await desk.task_routing(request.app[desk.DESK], task_id)
    if story is None:
        raise NotFound(f"task_id: no routing history for task {task_id}", task_id=task_id)
    return _json(story)


# -- callbacks ---------------------------------------------------------------------------------
def _callbacks(request: web.Request) -> CallbackService:
    service = request.app.get(CALLBACKS)
    if service is None:
        raise DependencyUnavailable("callbacks are not configured in this server")
    return service


def _callback_out(c: Callback) -> s.CallbackOut:
    return s.CallbackOut(**c.model_dump(mode="json"))


async def post_callback(request: web.Request) -> web.Response:
    body = await s.parse(request, s.CallbackIn)
    callback, created = await _callbacks(request).schedule(
        number=body.number,
        queue=body.queue,
        window_start=body.window_start,
        window_end=body.window_end,
        name=body.name,
    )
    await audit(
        request,
        "callback.create" if created else "callback.update",
        callback.id,
        {},
        body.model_dump(exclude_none=True),
    )
    return _json(_callback_out(callback), 201 if created else 200)


async def list_callbacks(request: web.Request) -> web.Response:
    member = member_of(request)
    mine = member.id if member.role == "agent" else None
    pending = await _callbacks(request).pending(agent_id=mine)
    return _json(s.CallbacksOut(callbacks=[_callback_out(c) for c in pending]))


async def delete_callback(request: web.Request) -> web.Response:
    callback_id = request.match_info["callback_id"]
    reason = request.query.get("reason") or None
    if reason is not None and len(reason) > 200:
        raise InvalidInput("reason: at most 200 characters", field="reason")
    callback = await _callbacks(request).cancel(callback_id, reason)
    await audit(
        request, "callback.cancel", callback_id, {}, {"state": "cancelled", "reason": reason}
    )
    return _json(_callback_out(callback))


# -- agent desktop and supervisor console ------------------------------------------------------
class DeskConflict(Conflict):
    error_id = "desk.refused"


async def _known_agent(request: web.Request, agent_id: str) -> StaffMember:
    require_self_or(request, agent_id, SUPERVISORS)
    target = await request.app[AUTH].staff.member(agent_id)
    if target is None:
        raise NotFound(f"agent_id: agent {agent_id} not found", agent_id=agent_id)
    return target


async def _work_item(routing: RoutingService, agent_id: str, task_id: str) -> WorkItem:
    work = await routing.agent_work(agent_id)
    item = next((t for t in work.tasks if t.task_id == task_id), None)
    if item is None:
        raise NotFound(
            f"task_id: task {task_id} is not offered to or held by agent {agent_id}",
            task_id=task_id,
        )
    return item


def _not_by_phone(item: WorkItem, what: str) -> None:
    if item.channel in desk.PHONE_CHANNELS:
        raise DeskConflict(f"task_id: task {item.task_id} is a call; {what}", task_id=item.task_id)


async def get_work(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    await _known_agent(request, agent_id)
    routing = request.app[ROUTING]
    work = await routing.agent_work(agent_id)
    return _json(await desk.work_view(request.app[desk.DESK], work, routing.clock.now()))


async def accept_task(request: web.Request) -> web.Response:
    agent_id, task_id = request.match_info["agent_id"], request.match_info["task_id"]
    await _known_agent(request, agent_id)
    routing = request.app[ROUTING]
    item = await _work_item(routing, agent_id, task_id)
    _not_by_phone(item, "it is accepted by answering the phone")
    await routing.accept(task_id, agent_id)
    await audit(request, "task.accept", task_id, {"agent": agent_id}, {"state": "assigned"})
    return _json(s.TaskActionOut(task_id=task_id, state="assigned"))


async def reject_task(request: web.Request) -> web.Response:
    agent_id, task_id = request.match_info["agent_id"], request.match_info["task_id"]
    await _known_agent(request, agent_id)
    body = await s.parse(request, s.RejectIn)
    routing = request.app[ROUTING]
    item = await _work_item(routing, agent_id, task_id)
    _not_by_phone(
        item, "decline it on the phone (the phone keeps ringing until it is declined or times out)"
    )
    await routing.reject(task_id, agent_id, body.reason or "rejected")
    await audit(request, "task.reject", task_id, {"agent": agent_id}, {"reason": body.reason})
    return _json(s.TaskActionOut(task_id=task_id, state="rejected"))


async def complete_task(request: web.Request) -> web.Response:
    agent_id, task_id = request.match_info["agent_id"], request.match_info["task_id"]
    await _known_agent(request, agent_id)
    routing = request.app[ROUTING]
    item = await _work_item(routing, agent_id, task_id)
    _not_by_phone(item, "it ends when either side hangs up")
    await routing.finish(task_id, agent_id)
    interaction = item.attributes.get("interaction_id")
    if isinstance(interaction, str):
        await request.app[desk.DESK].record_completion(
            task_id, agent_id, interaction, item.queue_id, routing.clock.now()
        )
    await audit(request, "task.complete", task_id, {"agent": agent_id}, {"state": "completed"})
    return _json(s.TaskActionOut(task_id=task_id, state="completed"))


async def post_wrapup(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    await _known_agent(request, agent_id)
    body = await s.parse(request, s.WrapUpIn)
    routing = request.app[ROUTING]
    work = await routing.agent_work(agent_id)
    wrapping = any(w.task_id == body.task_id for w in work.wrapups)
    held = next((t for t in work.tasks if t.task_id == body.task_id), None)
    if not wrapping and (held is None or held.state != "assigned"):
        # wrap-up time may run out while the note is typed: a task this agent finished
        # today still takes its disposition
        done = await request.app[desk.DESK].events_since(
            desk.day_start(routing.clock.now(), request.app[desk.DAY_ZONE]),
            ("task.completed",),
            agent_id,
        )
        if not any(e.task_id == body.task_id for e in done):
            raise DeskConflict(
                f"task_id: task {body.task_id} is not in wrap-up, in the hands of {agent_id} "
                "or finished by them today",
                task_id=body.task_id,
            )
    interaction = held.attributes.get("interaction_id") if held else None
    stored = await request.app[desk.DESK].record_disposition(
        Disposition(
            task_id=body.task_id,
            agent_id=agent_id,
            code=body.disposition,
            note=body.note,
            at=routing.clock.now(),
            interaction_id=interaction if isinstance(interaction, str) else None,
            queue_id=held.queue_id if held else None,
        )
    )
    ended = wrapping and body.end
    if ended:
        await routing.end_wrapup(agent_id)
    log.info("agent %s: task %s disposition %s", agent_id, body.task_id, body.disposition)
    await audit(
        request, "task.wrapup", body.task_id, {"agent": agent_id}, body.model_dump(mode="json")
    )
    return _json(
        s.WrapUpDoneOut(
            task_id=body.task_id,
            disposition=body.disposition,
            interaction_id=stored,
            wrapup_ended=ended,
        )
    )


async def get_agent_stats(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    await _known_agent(request, agent_id)
    now = request.app[ROUTING].clock.now()
    zone = request.app[desk.DAY_ZONE]
    return _json(await desk.agent_stats(request.app[desk.DESK], agent_id, now, zone))


async def get_wallboard(request: web.Request) -> web.Response:
    routing = request.app[ROUTING]
    stats = await routing.live_numbers()
    now, zone = routing.clock.now(), request.app[desk.DAY_ZONE]
    return _json(await desk.wallboard(request.app[desk.DESK], stats, now, zone))


async def get_audit(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidInput(f"limit: {raw!r} is not a whole number from 1 to 1000", field="limit")
    entries = await request.app[AUTH].audit.recent(int(raw))
    return _json(
        s.AuditOut(
            entries=[
                s.AuditEntryOut(
                    at=e.at,
                    actor_id=e.actor_id,
                    actor_role=e.actor_role,
                    action=e.action,
                    target=e.target,
                    before=e.before,
                    after=e.after,
                )
                for e in entries
            ]
        )
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/api/v1/auth/login", login, "Log in; sets the session cookie",
             frozenset(), s.LoginIn, s.LoginOut, tag="auth"),
    Endpoint("POST", "/api/v1/auth/logout", logout, "End this session (or revoke this token)",
             EVERYONE, None, s.OkOut, tag="auth"),
    Endpoint("POST", "/api/v1/auth/tokens", create_token, "Create a bearer token for scripts",
             EVERYONE, s.TokenIn, s.TokenOut, status=201, tag="auth"),
    Endpoint("GET", "/api/v1/me", me, "Who am I", EVERYONE, None, s.MeOut, tag="auth"),
    Endpoint("GET", "/api/v1/agents", list_agents,
             "Agents with presence, current work and time in state",
             SUPERVISORS, None, s.AgentsOut, tag="agents"),
    Endpoint("PUT", "/api/v1/agents/{agent_id}/presence", put_presence,
             "Set presence for every channel (agents: only their own)",
             EVERYONE, s.PresenceIn, s.PresenceOut, tag="agents"),
    Endpoint("PUT", "/api/v1/agents/{agent_id}/skills", put_skills,
             "Replace skills and channel capacities (stored and routed at once)",
             SUPERVISORS, s.SkillsIn, s.MeOut, tag="agents"),
    Endpoint("POST", "/api/v1/agents/{agent_id}/transfer", post_transfer,
             "Blind-transfer the call the agent holds to another queue (agents: their own)",
             EVERYONE, s.TransferIn, s.TransferOut, status=202, tag="agents", errors=(422, 503)),
    Endpoint("GET", "/api/v1/queues", list_queues,
             "Live numbers per queue: waiting, longest wait, EWT, agents by state",
             EVERYONE, None, s.QueuesOut, tag="queues"),
    Endpoint("PUT", "/api/v1/queues/{name}/open", put_queue_open, "Open or close a queue",
             SUPERVISORS, s.QueueOpenIn, s.QueueOpenOut, tag="queues"),
    Endpoint("PUT", "/api/v1/tasks/{task_id}", put_task,
             "Change a waiting task's priority or move it to another queue",
             SUPERVISORS, s.TaskIn, s.TaskOut, tag="queues"),
    Endpoint("GET", "/api/v1/tasks/{task_id}/routing", get_task_routing,
             "Why a task went to its agent: every offer with its explanation (strategy, "
             "relaxation step, priority, eligible agents, runner-up), refusals, moves",
             SUPERVISORS, None, s.TaskRoutingOut, tag="queues"),
    # -- agent desktop and supervisor console
    Endpoint("GET", "/api/v1/agents/{agent_id}/work", get_work,
             "The agent's offers and work in hand with customer context, and wrap-ups",
             EVERYONE, None, s.WorkOut, tag="desk"),
    Endpoint("POST", "/api/v1/agents/{agent_id}/tasks/{task_id}/accept", accept_task,
             "Accept an offer (not a call: the phone's answer accepts it)",
             EVERYONE, None, s.TaskActionOut, tag="desk"),
    Endpoint("POST", "/api/v1/agents/{agent_id}/tasks/{task_id}/reject", reject_task,
             "Reject an offer: it goes back to its place for the next agent (not a call)",
             EVERYONE, s.RejectIn, s.TaskActionOut, tag="desk"),
    Endpoint("POST", "/api/v1/agents/{agent_id}/tasks/{task_id}/complete", complete_task,
             "Finish a task in hand (wrap-up follows); a call ends by hanging up",
             EVERYONE, None, s.TaskActionOut, tag="desk"),
    Endpoint("POST", "/api/v1/agents/{agent_id}/wrapup", post_wrapup,
             "Store a disposition and note with the task's interaction; end wrap-up early",
             EVERYONE, s.WrapUpIn, s.WrapUpDoneOut, tag="desk"),
    Endpoint("GET", "/api/v1/agents/{agent_id}/stats", get_agent_stats,
             "The agent's own numbers for today", EVERYONE, None, s.AgentStatsOut, tag="desk"),
    Endpoint("GET", "/api/v1/wallboard", get_wallboard,
             "Per queue: live numbers plus service level, answered and abandoned today",
             SUPERVISORS, None, s.WallboardOut, tag="desk"),
    Endpoint("GET", "/api/v1/audit", get_audit, "The audit log, newest first",
             SUPERVISORS, None, s.AuditOut, tag="desk", query=("limit",)),
    # -- callbacks
    Endpoint("POST", "/api/v1/callbacks", post_callback,
             "Schedule a callback for a time window inside the queue's business hours "
             "(one per number and queue: a second request updates the first, 200)",
             EVERYONE, s.CallbackIn, s.CallbackOut, status=201, tag="callbacks",
             errors=(422,), also_ok=(200,)),
    Endpoint("GET", "/api/v1/callbacks", list_callbacks,
             "Pending callbacks (supervisors: all; agents: those offered to them)",
             EVERYONE, None, s.CallbacksOut, tag="callbacks"),
    Endpoint("DELETE", "/api/v1/callbacks/{callback_id}", delete_callback,
             "Cancel a callback that no agent is dialling: it leaves its queue and is never "
             "rung (409 while an agent dials it, or once it is closed)",
             SUPERVISORS, None, s.CallbackOut, tag="callbacks", query=("reason",)),
)  # fmt: skip


def guarded(ep: Endpoint) -> Handler:
    """The handler behind its role check (authentication itself is the middleware's)."""
    if not ep.roles:
        return ep.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        role = member_of(request).role
        if role not in ep.roles:
            raise deny(403, "forbidden", f"role {role} may not {ep.method} {ep.path}")
        return await ep.handler(request)

    return handler
