"""Every endpoint: the authorisation matrix, what each one really changes, bad inputs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contactcore.acd.model import AgentConfig, Presence, TaskSpec
from contactcore.adapters.redis.stream import RedisStreamTail
from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration

ROLES = ("agent", "supervisor", "admin")
USERS = {"agent": "agent1001", "supervisor": "supervisor", "admin": "admin"}


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix) as e:
        yield e


def by_role(agent: int, others: int) -> dict[str, int]:
    return {"agent": agent, "supervisor": others, "admin": others}


async def test_authorisation_matrix(env: ApiEnv) -> None:
    """Each role against each endpoint: the expected status, nothing else."""
    await env.hold_call("agent1001", "tk_held")  # before tk_matrix waits: nothing else routes
    await env.routing.enqueue(TaskSpec(id="tk_matrix", channel="voice", queue="general"))
    me, other = env.ids["agent1001"], env.ids["agent1002"]
    mine, theirs = f"/api/v1/agents/{me}", f"/api/v1/agents/{other}"
    wrap = {"task_id": "tk_none", "disposition": "resolved"}
    matrix: list[tuple[str, str, Any, dict[str, int]]] = [
        ("GET", "/api/v1/me", None, {"agent": 200, "supervisor": 200, "admin": 200}),
        ("GET", "/api/v1/openapi.json", None, {"agent": 200, "supervisor": 200, "admin": 200}),
        ("GET", "/api/v1/queues", None, {"agent": 200, "supervisor": 200, "admin": 200}),
        ("GET", "/api/v1/agents", None, {"agent": 403, "supervisor": 200, "admin": 200}),
        (
            "PUT",
            f"/api/v1/agents/{me}/presence",
            {"presence": "available"},
            {"agent": 200, "supervisor": 200, "admin": 200},
        ),
        (
            "PUT",
            f"/api/v1/agents/{other}/presence",
            {"presence": "not_ready", "reason": "coaching"},
            {"agent": 403, "supervisor": 200, "admin": 200},
        ),
        (
            "POST",
            f"/api/v1/agents/{me}/transfer",
            {"queue": "billing"},
            {"agent": 202, "supervisor": 202, "admin": 202},
        ),
        (
            "POST",
            f"/api/v1/agents/{other}/transfer",  # holds no call
            {"queue": "billing"},
            {"agent": 403, "supervisor": 404, "admin": 404},
        ),
        (
            "PUT",
            f"/api/v1/agents/{other}/skills",
            {"skills": {"english": 6, "tech_support": 8}},
            {"agent": 403, "supervisor": 200, "admin": 200},
        ),
        (
            "PUT",
            f"/api/v1/agents/{me}/skills",
            {"skills": {"english": 9, "billing": 9, "sales": 3}},
            {"agent": 403, "supervisor": 200, "admin": 200},
        ),
        (
            "PUT",
            "/api/v1/queues/general/open",
            {"open": True},
            {"agent": 403, "supervisor": 200, "admin": 200},
        ),
        (
            "PUT",
            "/api/v1/tasks/tk_matrix",
            {"priority": 10},
            {"agent": 403, "supervisor": 200, "admin": 200},
        ),
        (
            "GET",
            "/api/v1/tasks/tk_matrix/routing",  # no history stored here: 404 once allowed in
            None,
            {"agent": 403, "supervisor": 404, "admin": 404},
        ),
        (
            "GET",
            "/api/v1/wfm/staffing?queue=general",
            None,
            {"agent": 403, "supervisor": 200, "admin": 200},
        ),
        # the same number and queue each time: the first creates, the others update it
        (
            "POST",
            "/api/v1/callbacks",
            {"number": "+12025550143", "queue": "general", "window_start": 1800000000.0},
            {"agent": 201, "supervisor": 200, "admin": 200},
        ),
        ("GET", "/api/v1/callbacks", None, {"agent": 200, "supervisor": 200, "admin": 200}),
        (
            "DELETE",
            "/api/v1/callbacks/cb_none",
            None,
            {"agent": 403, "supervisor": 404, "admin": 404},
        ),
        # agent desktop and supervisor console (no such offer: 404 once allowed in)
        ("GET", f"{mine}/work", None, by_role(200, 200)),
        ("GET", f"{theirs}/work", None, by_role(403, 200)),
        ("GET", f"{mine}/stats", None, by_role(200, 200)),
        ("GET", f"{theirs}/stats", None, by_role(403, 200)),
        ("POST", f"{mine}/tasks/tk_none/accept", None, by_role(404, 404)),
        ("POST", f"{theirs}/tasks/tk_none/accept", None, by_role(403, 404)),
        ("POST", f"{mine}/tasks/tk_none/reject", {}, by_role(404, 404)),
        ("POST", f"{theirs}/tasks/tk_none/reject", {}, by_role(403, 404)),
        ("POST", f"{mine}/tasks/tk_none/complete", None, by_role(404, 404)),
        ("POST", f"{theirs}/tasks/tk_none/complete", None, by_role(403, 404)),
        ("POST", f"{mine}/wrapup", wrap, by_role(409, 409)),
        ("POST", f"{theirs}/wrapup", wrap, by_role(403, 409)),
        ("GET", "/api/v1/wallboard", None, by_role(403, 200)),
        ("GET", "/api/v1/audit", None, by_role(403, 200)),
        ("POST", "/api/v1/auth/tokens", {}, {"agent": 201, "supervisor": 201, "admin": 201}),
        ("POST", "/api/v1/auth/logout", None, {"agent": 200, "supervisor": 200, "admin": 200}),
    ]
    wrong = []
    for role in ROLES:
        headers = await env.bearer(USERS[role])
        for method, path, body, expected in matrix:
            resp = await env.client.request(method, path, json=body, headers=headers)
            if resp.status != expected[role]:
                wrong.append((role, method, path, resp.status, await resp.text()))
            if resp.status == 403:
                assert (await resp.json())["error"] == "forbidden"
        for method, path, body, _ in matrix:  # nobody: 401 everywhere
            resp = await env.client.request(method, path, json=body)
            if resp.status != 401:
                wrong.append(("anonymous", method, path, resp.status, await resp.text()))
    assert not wrong, json.dumps(wrong, indent=1)


async def test_every_registered_api_route_is_in_the_matrix(env: ApiEnv) -> None:
    """A new route must get a line in the matrix above (and so an explicit decision)."""
    routes = {
        (r.method, r.resource.canonical)
        for r in env.client.app.router.routes()  # type: ignore[union-attr]
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
    }
    covered = {
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/queues"),
        ("GET", "/api/v1/agents"),
        ("PUT", "/api/v1/agents/{agent_id}/presence"),
        ("PUT", "/api/v1/agents/{agent_id}/skills"),
        ("POST", "/api/v1/agents/{agent_id}/transfer"),
        ("PUT", "/api/v1/queues/{name}/open"),
        ("PUT", "/api/v1/tasks/{task_id}"),
        ("GET", "/api/v1/tasks/{task_id}/routing"),
        ("GET", "/api/v1/wfm/staffing"),
        ("POST", "/api/v1/callbacks"),
        ("GET", "/api/v1/callbacks"),
        ("DELETE", "/api/v1/callbacks/{callback_id}"),
        ("POST", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/login"),  # test_api_auth
        ("GET", "/api/v1/agents/{agent_id}/work"),
        ("GET", "/api/v1/agents/{agent_id}/stats"),
        ("POST", "/api/v1/agents/{agent_id}/tasks/{task_id}/accept"),
        ("POST", "/api/v1/agents/{agent_id}/tasks/{task_id}/reject"),
        ("POST", "/api/v1/agents/{agent_id}/tasks/{task_id}/complete"),
        ("POST", "/api/v1/agents/{agent_id}/wrapup"),
        ("GET", "/api/v1/wallboard"),
        ("GET", "/api/v1/audit"),
    }
    assert routes == covered


async def test_presence_for_every_channel_and_the_agents_list(env: ApiEnv) -> None:
    agent = await env.bearer("agent1003")
    sup = await env.bearer("supervisor")
    aid = env.ids["agent1003"]
    path = f"/api/v1/agents/{aid}/presence"

    resp = await env.client.put(path, json={"presence": "available"}, headers=agent)
    assert resp.status == 200
    assert await resp.json() == {"agent_id": aid, "presence": "available", "reason": None}
    env.clock.advance(5)
    agents = {
        a["id"]: a
        for a in (await (await env.client.get("/api/v1/agents", headers=sup)).json())["agents"]
    }
    row = agents[aid]
    assert (row["presence"], row["state"], row["tasks"]) == ("available", "available", [])
    assert 5 <= row["time_in_state_s"] < 6
    assert agents[env.ids["agent1004"]]["state"] == "offline"
    assert env.ids["supervisor"] not in agents

    queues = {
        q["name"]: q
        for q in (await (await env.client.get("/api/v1/queues", headers=agent)).json())["queues"]
    }
    assert queues["general"]["agents"]["available"] == 1
    assert queues["general"]["open"] is True

    # a waiting task is offered to the agent: current work shows it
    await env.routing.enqueue(TaskSpec(id="tk_work", channel="voice", queue="general"))
    offers = await env.routing.route()
    assert [o.agent_id for o in offers] == [aid]
    agents = {
        a["id"]: a
        for a in (await (await env.client.get("/api/v1/agents", headers=sup)).json())["agents"]
    }
    assert agents[aid]["tasks"] == ["tk_work"]

    # pause by the supervisor, then log out by the agent
    resp = await env.client.put(
        path, json={"presence": "not_ready", "reason": "coaching"}, headers=sup
    )
    assert resp.status == 200
    live = {a.agent_id: a for a in await env.routing.live_agents()}
    assert (live[aid].presence, live[aid].reason) == (Presence.NOT_READY, "coaching")
    entry = (await env.staff.recent(1))[0]
    assert (entry.actor_id, entry.action, entry.target) == (
        env.ids["supervisor"],
        "agent.presence",
        aid,
    )
    assert entry.before == {"presence": "available", "reason": None}
    assert entry.after == {"presence": "not_ready", "reason": "coaching"}


async def test_skill_change_reaches_sql_and_the_next_routing_decision(env: ApiEnv) -> None:
    felix = env.ids["agent1006"]  # german, tech_support, english 4: no billing
    sup = await env.bearer("supervisor")
    felix_h = await env.bearer("agent1006")
    resp = await env.client.put(
        f"/api/v1/agents/{felix}/presence", json={"presence": "available"}, headers=felix_h
    )
    assert resp.status == 200
    await env.routing.enqueue(TaskSpec(id="tk_bill", channel="voice", queue="billing"))
    assert await env.routing.route() == []

    resp = await env.client.put(
        f"/api/v1/agents/{felix}/skills",
        json={"skills": {"billing": 9, "english": 8}, "capacities": {"voice": 1, "chat": 1}},
        headers=sup,
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["skills"] == {"billing": 9, "english": 8}
    stored = await env.staff.member(felix)
    assert stored is not None
    assert stored.skills == {"billing": 9, "english": 8}
    assert stored.capacities == {"voice": 1, "chat": 1}
    offers = await env.routing.route()
    assert [(o.task_id, o.agent_id) for o in offers] == [("tk_bill", felix)]

    entry = (await env.staff.recent(1))[0]
    assert entry.action == "agent.skills"
    assert entry.before["skills"] == {"english": 4, "german": 8, "tech_support": 6}
    assert entry.after["skills"] == {"billing": 9, "english": 8}


async def test_cross_channel_rules_are_set_stored_and_honoured_at_once(env: ApiEnv) -> None:
    """By default a call in hand blocks chats; a supervisor lets Felix chat on a call."""
    felix = env.ids["agent1006"]
    sup = await env.bearer("supervisor")
    resp = await env.client.get("/api/v1/agents", headers=sup)
    listed = {a["id"]: a for a in (await resp.json())["agents"]}
    assert listed[felix]["blocks"]["voice"] == ["callback", "chat", "email"]  # the default
    felix_h = await env.bearer("agent1006")
    await env.client.put(
        f"/api/v1/agents/{felix}/presence", json={"presence": "available"}, headers=felix_h
    )
    await env.routing.enqueue(TaskSpec(id="tk_call", channel="voice", queue="general"))
    [call] = await env.routing.route()
    await env.routing.accept(call.task_id, felix)
    await env.routing.enqueue(TaskSpec(id="tk_chat", channel="chat", queue="general"))
    assert await env.routing.route() == []  # a call in hand blocks the chat

    rules = {"voice": ["email"], "callback": ["voice", "chat", "email"]}
    member = await env.staff.member(felix)
    assert member is not None
    resp = await env.client.put(
        f"/api/v1/agents/{felix}/skills",
        json={"skills": member.skills, "capacities": {"voice": 1, "chat": 2}, "blocks": rules},
        headers=sup,
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["blocks"] == rules
    stored = await env.staff.member(felix)
    assert stored is not None
    assert stored.blocks == rules
    assert [o.task_id for o in await env.routing.route()] == ["tk_chat"]
    entry = (await env.staff.recent(1))[0]
    assert entry.before["blocks"]["voice"] == ["callback", "chat", "email"]
    assert entry.after["blocks"] == rules


async def test_closing_a_queue_acts_at_once_and_is_stored_and_audited(env: ApiEnv) -> None:
    sup = await env.bearer("admin")
    resp = await env.client.put("/api/v1/queues/support/open", json={"open": False}, headers=sup)
    assert resp.status == 200
    assert await resp.json() == {"name": "support", "open": False}
    stats = {q.queue_id: q for q in await env.routing.live_numbers()}
    assert stats["support"].open is False
    record = await env.db.queues.get_by_name("support")
    assert record is not None
    assert record.open is False
    entry = (await env.staff.recent(1))[0]
    assert (entry.actor_role, entry.action, entry.target) == ("admin", "queue.open", "support")
    assert (entry.before, entry.after) == ({"open": True}, {"open": False})


async def test_task_priority_and_move(env: ApiEnv) -> None:
    sup = await env.bearer("supervisor")
    for tid in ("tk_a", "tk_b"):
        await env.routing.enqueue(TaskSpec(id=tid, channel="voice", queue="general"))
    resp = await env.client.put("/api/v1/tasks/tk_b", json={"priority": 100}, headers=sup)
    assert resp.status == 200, await resp.text()
    queues = {
        q["name"]: q
        for q in (await (await env.client.get("/api/v1/queues", headers=sup)).json())["queues"]
    }
    assert [t["task_id"] for t in queues["general"]["tasks"]] == ["tk_b", "tk_a"]
    assert queues["general"]["waiting"] == 2

    resp = await env.client.put("/api/v1/tasks/tk_a", json={"queue": "vip"}, headers=sup)
    assert resp.status == 200
    assert await resp.json() == {"task_id": "tk_a", "priority": None, "queue": "vip"}
    stats = {q.queue_id: q for q in await env.routing.live_numbers()}
    assert [t.task_id for t in stats["vip"].tasks] == ["tk_a"]
    actions = [(e.action, e.target, e.before, e.after) for e in await env.staff.recent(2)]
    assert actions == [
        ("task.update", "tk_a", {"queue": "general"}, {"queue": "vip"}),
        ("task.update", "tk_b", {"queue": "general"}, {"priority": 100}),
    ]


async def test_agents_own_changes_are_not_audited(env: ApiEnv) -> None:
    agent = await env.bearer("agent1001")
    aid = env.ids["agent1001"]
    resp = await env.client.put(
        f"/api/v1/agents/{aid}/presence", json={"presence": "available"}, headers=agent
    )
    assert resp.status == 200
    assert await env.staff.recent() == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("PUT", "/api/v1/agents/{me}/presence", {"presence": "away"}, 400, "presence"),
        ("PUT", "/api/v1/agents/{me}/presence", {}, 400, "presence"),
        (
            "PUT",
            "/api/v1/agents/{me}/presence",
            {"presence": "available", "reason": 5},
            400,
            "reason",
        ),
        ("PUT", "/api/v1/agents/{me}/presence", [1, 2], 400, "body"),
        ("PUT", "/api/v1/agents/ag_nobody/presence", {"presence": "available"}, 404, "agent_id"),
        ("PUT", "/api/v1/agents/{me}/skills", {"skills": {"english": 11}}, 400, "skills.english"),
        (
            "PUT",
            "/api/v1/agents/{me}/skills",
            {"skills": {"english": "high"}},
            400,
            "skills.english",
        ),
        (
            "PUT",
            "/api/v1/agents/{me}/skills",
            {"skills": {"english": 5}, "capacities": {"voice": -1}},
            400,
            "capacities.voice",
        ),
        (
            "PUT",
            "/api/v1/agents/{me}/skills",
            {"skills": {"english": 5}, "blocks": {"voice": ["voice"]}},
            400,
            "blocks.voice",
        ),
        ("PUT", "/api/v1/agents/{me}/skills", {"skills": {"klingon": 5}}, 404, None),
        ("PUT", "/api/v1/agents/ag_nobody/skills", {"skills": {}}, 404, "agent_id"),
        ("PUT", "/api/v1/queues/general/open", {"open": "yes"}, 400, "open"),
        ("PUT", "/api/v1/queues/general/open", {"open": True, "x": 1}, 400, "x"),
        ("PUT", "/api/v1/queues/nowhere/open", {"open": True}, 404, "name"),
        ("PUT", "/api/v1/tasks/tk_none", {"priority": 1}, 404, "task_id"),
        ("PUT", "/api/v1/tasks/tk_wait", {}, 400, "body"),
        ("PUT", "/api/v1/tasks/tk_wait", {"priority": "urgent"}, 400, "priority"),
        ("PUT", "/api/v1/tasks/tk_wait", {"priority": 1e9}, 400, "priority"),
        ("PUT", "/api/v1/tasks/tk_wait", {"queue": "nowhere"}, 404, None),
        ("POST", "/api/v1/auth/tokens", {"ttl_days": 0}, 400, "ttl_days"),
        ("GET", "/api/v1/wfm/staffing", None, 400, "queue"),
    ],
)
async def test_bad_input_gets_a_4xx_naming_the_field(
    env: ApiEnv, method: str, path: str, body: Any, status: int, field: str | None
) -> None:
    await env.routing.enqueue(TaskSpec(id="tk_wait", channel="voice", queue="general"))
    sup = await env.bearer("supervisor")
    resp = await env.client.request(
        method, path.format(me=env.ids["agent1001"]), json=body, headers=sup
    )
    assert resp.status == status, await resp.text()
    payload = await resp.json()
    assert payload["error"]
    assert payload["message"]
    if field:
        assert payload["message"].startswith(field), payload["message"]


async def test_unknown_routes_and_methods_answer_json(env: ApiEnv) -> None:
    sup = await env.bearer("supervisor")
    missing = await env.client.get("/api/v1/nothing", headers=sup)
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    wrong = await env.client.delete("/api/v1/queues", headers=sup)
    assert wrong.status == 405
    assert "GET" in wrong.headers["Allow"]
    assert (await wrong.json())["error"] == "method_not_allowed"


async def test_transfer_goes_to_the_calls_owner_over_the_event_stream(env: ApiEnv) -> None:
    """The request is checked against the routing state, then published for whichever
    controller carries the call; the answer says what was asked."""
    await env.hold_call("agent1001", "tk_call")
    me = env.ids["agent1001"]
    agent = await env.bearer("agent1001")
    sup = await env.bearer("supervisor")
    tail = RedisStreamTail(env.redis, env.redis_prefix)
    await tail.read(10, 1)  # pin the starting point before the request
    path = f"/api/v1/agents/{me}/transfer"

    resp = await env.client.post(path, json={"queue": "billing"}, headers=agent)
    assert resp.status == 202, await resp.text()
    assert await resp.json() == {
        "agent_id": me,
        "task_id": "tk_call",
        "from_queue": "general",
        "queue": "billing",
        "interaction_id": "ix-tk_call",
        "status": "requested",
    }
    published = [e for e in await tail.read(100, 500) if e.type == "call.transfer_requested"]
    (event,) = published
    assert (event.task_id, event.agent_id, event.queue_id) == ("tk_call", me, "general")
    assert event.interaction_id == "ix-tk_call"
    assert event.payload == {"queue": "billing", "requested_by": me}
    assert not await env.staff.recent(1), "an agent's own transfer is not audited"

    # a supervisor may transfer it too, and that is audited
    resp = await env.client.post(path, json={"queue": "support"}, headers=sup)
    assert resp.status == 202, await resp.text()
    entry = (await env.staff.recent(1))[0]
    assert (entry.action, entry.target, entry.before, entry.after) == (
        "call.transfer",
        "tk_call",
        {"queue": "general"},
        {"queue": "support"},
    )

    async def refused(body: Any, status: int, message: str, who: str | None = None) -> None:
        target = env.ids[who] if who else me
        resp = await env.client.post(f"/api/v1/agents/{target}/transfer", json=body, headers=sup)
        assert resp.status == status, await resp.text()
        assert (await resp.json())["message"].startswith(message)

    await refused({"queue": "nowhere"}, 422, "queue: no queue named nowhere")
    await refused({"queue": "general"}, 422, "queue: the call is already in queue general")
    await env.routing.set_queue_open("support", False)
    await refused({"queue": "support"}, 422, "queue: queue support is closed")
    await refused({"queue": ""}, 400, "queue:")
    await refused({"queue": 7}, 400, "queue:")
    await refused({}, 400, "queue:")
    await refused({"queue": "billing"}, 404, "agent_id:", who="agent1002")
    # a call still ringing (offered, not answered) is not in hand
    await env.routing.login(AgentConfig(id=env.ids["agent1005"], skills={"english": 9}))
    await env.routing.set_presence(env.ids["agent1005"], Presence.AVAILABLE)
    await env.routing.enqueue(TaskSpec(id="tk_ringing", channel="voice", queue="general"))
    assert [o.agent_id for o in await env.routing.route()] == [env.ids["agent1005"]]
    await refused({"queue": "billing"}, 404, "agent_id:", who="agent1005")
    published = [e for e in await tail.read(100, 200) if e.type == "call.transfer_requested"]
    assert len(published) == 1, "refused requests publish nothing"
