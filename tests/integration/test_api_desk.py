"""The desktop and console endpoints on the real routing engine, Redis and SQLite:
offers with customer context, accept/reject/complete, wrap-up with a disposition, today's
numbers, the wallboard, the audit log, and what they refuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from contactcore.acd.model import CustomerContext, TaskSpec
from contactcore.adapters.db.desk import SqlDeskHistory
from contactcore.core.events import DomainEvent
from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix, with_feed=True) as e:
        yield e


async def call(
    env: ApiEnv, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    resp = await env.client.request(method, path, json=body, headers=headers)
    return resp.status, await resp.json()


async def available(env: ApiEnv, username: str, headers: dict[str, str]) -> None:
    aid = env.ids[username]
    status, body = await call(
        env, "PUT", f"/api/v1/agents/{aid}/presence", headers, {"presence": "available"}
    )
    assert status == 200, body


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 10) -> None:
    """Wait for a condition (the history consumer writes in the background)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - another task writes it
            await asyncio.sleep(0.05)
    assert await check(), what


async def schema_errors(env: ApiEnv, headers: dict[str, str], path: str, body: Any) -> list[Any]:
    doc = await (await env.client.get("/api/v1/openapi.json", headers=headers)).json()
    ref = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return list(Draft202012Validator({"components": doc["components"], **ref}).iter_errors(body))


async def test_chat_offer_with_customer_context_accept_complete_and_wrap_up(env: ApiEnv) -> None:
    agent = await env.bearer("agent1001")
    aid = env.ids["agent1001"]
    customer = await env.db.customers.find_by_phone("+12025550101")  # Victoria Hale, vip
    assert customer is not None
    # an earlier interaction of this customer, and the current one with its IVR path
    t0 = env.clock.now()
    await env.db.interactions.start("ix_before", "voice", t0 - 86400, "+12025550101")
    await env.db.interactions.annotate(
        "ix_before", customer_id=customer.id, attributes={"disposition": "follow_up"}
    )
    await env.db.interactions.start("ix_now", "chat", t0, "+12025550101")
    await env.db.interactions.annotate("ix_now", customer_id=customer.id)
    for i, (kind, payload) in enumerate(
        [
            ("ivr.flow_entered", {"number": "100", "name": "main"}),
            ("ivr.menu_choice", {"key": "1", "to": "billing"}),
            ("ivr.idv", {"step": "verify", "outcome": "verified"}),
        ]
    ):
        await env.db.interactions.add_event(
            DomainEvent(
                id=f"ev_ivr{i}", type=kind, at=t0 + i, interaction_id="ix_now", payload=payload
            )
        )
    await available(env, "agent1001", agent)
    await env.routing.enqueue(
        TaskSpec(
            id="tk_chat1",
            channel="chat",
            queue="billing",
            customer=CustomerContext(id=customer.id, tier="vip", verified=True),
            attributes={"interaction_id": "ix_now"},
        )
    )
    offers = await env.routing.route()
    assert [(o.task_id, o.agent_id) for o in offers] == [("tk_chat1", aid)]

    status, work = await call(env, "GET", f"/api/v1/agents/{aid}/work", agent)
    assert status == 200
    assert not await schema_errors(env, agent, "/api/v1/agents/{agent_id}/work", work)
    [task] = work["tasks"]
    assert (task["task_id"], task["state"], task["channel"]) == ("tk_chat1", "offered", "chat")
    assert task["actions"] == ["accept", "reject"]
    assert task["offer_deadline"] is not None
    c = task["customer"]
    assert (c["name"], c["tier"], c["verified"]) == ("Victoria Hale", "vip", True)
    assert c["ivr_path"] == ["flow main", "menu key 1 -> billing", "verify: verified"]
    assert [(p["id"], p["disposition"]) for p in c["previous"]] == [("ix_before", "follow_up")]

    status, body = await call(env, "POST", f"/api/v1/agents/{aid}/tasks/tk_chat1/accept", agent)
    assert (status, body) == (200, {"task_id": "tk_chat1", "state": "assigned"})
    work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
    assert work["state"] == "busy"
    assert [(t["state"], t["actions"]) for t in work["tasks"]] == [("assigned", ["complete"])]

    status, body = await call(env, "POST", f"/api/v1/agents/{aid}/tasks/tk_chat1/complete", agent)
    assert (status, body["state"]) == (200, "completed")
    work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
    assert work["state"] == "wrap_up"
    assert [w["task_id"] for w in work["wrapups"]] == ["tk_chat1"]

    note = "refund of the double charge sent"
    status, body = await call(
        env,
        "POST",
        f"/api/v1/agents/{aid}/wrapup",
        agent,
        {"task_id": "tk_chat1", "disposition": "resolved", "note": note},
    )
    assert status == 200, body
    assert body == {
        "task_id": "tk_chat1",
        "disposition": "resolved",
        "interaction_id": "ix_now",
        "wrapup_ended": True,
    }
    work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
    assert (work["state"], work["wrapups"], work["tasks"]) == ("available", [], [])
    # stored with the interaction: on the record and in its timeline
    record = await env.db.interactions.get_interaction("ix_now")
    assert record is not None
    assert (record.attributes["disposition"], record.attributes["note"]) == ("resolved", note)
    [event] = [e for e in record.events if e.type == "task.disposition"]
    assert (event.task_id, event.agent_id, event.payload["note"]) == ("tk_chat1", aid, note)


async def test_a_rejected_offer_goes_to_the_next_agent(env: ApiEnv) -> None:
    first, second = await env.bearer("agent1001"), await env.bearer("agent1003")
    await available(env, "agent1001", first)
    await env.routing.enqueue(TaskSpec(id="tk_rej", channel="email", queue="general"))
    [offer] = await env.routing.route()
    assert offer.agent_id == env.ids["agent1001"]
    await available(env, "agent1003", second)
    path = f"/api/v1/agents/{offer.agent_id}/tasks/tk_rej/reject"
    status, body = await call(env, "POST", path, first, {"reason": "not my language"})
    assert (status, body) == (200, {"task_id": "tk_rej", "state": "rejected"})
    [again] = await env.routing.route()
    assert (again.task_id, again.agent_id) == ("tk_rej", env.ids["agent1003"])
    status, body = await call(env, "POST", path, first, {})  # no longer theirs
    assert status == 404
    assert body["message"].startswith("task_id: ")


async def test_a_call_is_answered_on_the_phone_not_on_the_desktop(env: ApiEnv) -> None:
    """The voice channel rings the phone on the offer and accepts on answer; a desktop
    accept, reject or complete of a call is refused, and the offer stays as it was."""
    agent = await env.bearer("agent1001")
    aid = env.ids["agent1001"]
    await available(env, "agent1001", agent)
    await env.routing.enqueue(TaskSpec(id="tk_call", channel="voice", queue="general"))
    [offer] = await env.routing.route()
    assert offer.agent_id == aid
    work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
    assert [(t["task_id"], t["actions"]) for t in work["tasks"]] == [("tk_call", [])]
    for action, body, words in (
        ("accept", None, "answering the phone"),
        ("reject", {}, "decline it on the phone"),
        ("complete", None, "hangs up"),
    ):
        status, err = await call(
            env, "POST", f"/api/v1/agents/{aid}/tasks/tk_call/{action}", agent, body
        )
        assert status == 409, (action, err)
        assert err["error"] == "desk.refused"
        assert err["message"].startswith("task_id: task tk_call is a call")
        assert words in err["message"]
    work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
    assert [(t["task_id"], t["state"]) for t in work["tasks"]] == [("tk_call", "offered")]
    # once the phone answered (the voice channel accepts), the desktop offers transfer
    await env.routing.accept("tk_call", aid)
    work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
    assert [t["actions"] for t in work["tasks"]] == [["transfer"]]


async def test_bad_input_is_refused_with_the_field(env: ApiEnv) -> None:
    agent = await env.bearer("agent1001")
    sup = await env.bearer("supervisor")
    aid = env.ids["agent1001"]
    wrap = f"/api/v1/agents/{aid}/wrapup"
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("POST", wrap, {"task_id": "tk_x", "disposition": "lunch"}, agent, 400, "disposition: "),
        ("POST", wrap, {"disposition": "resolved"}, agent, 400, "task_id: "),
        (
            "POST",
            wrap,
            {"task_id": "tk_x", "disposition": "resolved", "note": "x" * 2001},
            agent,
            400,
            "note: ",
        ),
        ("POST", wrap, {"task_id": "tk_x", "disposition": "resolved", "end": "yes"}, agent, 400,
         "end: "),
        ("POST", wrap, {"task_id": "tk_x", "disposition": "resolved"}, agent, 409, "task_id: "),
        ("POST", f"/api/v1/agents/{aid}/tasks/tk_x/reject", {"reason": ""}, agent, 400,
         "reason: "),
        ("POST", f"/api/v1/agents/{aid}/tasks/tk_x/reject", {"why": "x"}, agent, 400, "why: "),
        ("GET", "/api/v1/agents/ag_nobody/work", None, sup, 404, "agent_id: "),
        ("GET", "/api/v1/agents/ag_nobody/stats", None, sup, 404, "agent_id: "),
        ("GET", "/api/v1/audit?limit=0", None, sup, 400, "limit: "),
        ("GET", "/api/v1/audit?limit=abc", None, sup, 400, "limit: "),
        ("GET", "/api/v1/audit?limit=1001", None, sup, 400, "limit: "),
    ]  # fmt: skip
    for method, path, body, headers, expected, starts in cases:
        status, err = await call(env, method, path, headers, body)
        assert status == expected, (path, body, err)
        assert err["message"].startswith(starts), (path, body, err)
    resp = await env.client.post(wrap, data=b"{not json", headers=agent)
    assert resp.status == 400
    assert (await resp.json())["message"] == "body: not valid JSON"


async def test_todays_numbers_wallboard_and_audit(
    sqlite_url: str, redis_url: str, redis_prefix: str
) -> None:
    async with api_env(sqlite_url, redis_url, redis_prefix, background=True) as env:
        agent = await env.bearer("agent1001")
        sup = await env.bearer("supervisor")
        aid = env.ids["agent1001"]
        await available(env, "agent1001", agent)
        await env.routing.enqueue(TaskSpec(id="tk_day1", channel="chat", queue="billing"))

        async def offered() -> bool:
            work = (await call(env, "GET", f"/api/v1/agents/{aid}/work", agent))[1]
            return [t["task_id"] for t in work["tasks"]] == ["tk_day1"]

        await eventually(offered, "the router offers tk_day1")
        base = f"/api/v1/agents/{aid}/tasks/tk_day1"
        assert (await call(env, "POST", f"{base}/accept", agent))[0] == 200
        env.clock.advance(42)
        assert (await call(env, "POST", f"{base}/complete", agent))[0] == 200
        # a caller who gave up waiting in billing
        status, _ = await call(
            env, "PUT", "/api/v1/queues/billing/open", sup, {"open": True}
        )  # an audited change (nothing to do: it is open)
        assert status == 200
        await env.routing.enqueue(TaskSpec(id="tk_gone", channel="voice", queue="billing"))
        await env.routing.withdraw("tk_gone", "abandoned")

        async def counted() -> bool:
            stats = (await call(env, "GET", f"/api/v1/agents/{aid}/stats", agent))[1]
            return bool(stats["completed"] == 1)

        await eventually(counted, "the history consumer stores task.completed")
        status, stats = await call(env, "GET", f"/api/v1/agents/{aid}/stats", agent)
        assert status == 200
        assert not await schema_errors(env, agent, "/api/v1/agents/{agent_id}/stats", stats)
        assert stats["since"] <= env.clock.now() < stats["since"] + 86400
        assert (stats["offered"], stats["accepted"], stats["rejected"], stats["missed"]) == (
            1,
            1,
            0,
            0,
        )
        assert (stats["handle_time_s"], stats["average_handle_time_s"]) == (42.0, 42.0)
        assert stats["completed_by_channel"] == {"chat": 1}

        async def abandoned() -> bool:
            board = (await call(env, "GET", "/api/v1/wallboard", sup))[1]
            billing = next(q for q in board["queues"] if q["name"] == "billing")
            return bool(billing["abandoned"] == 1)

        await eventually(abandoned, "the history consumer stores task.withdrawn")
        board = (await call(env, "GET", "/api/v1/wallboard", sup))[1]
        billing = next(q for q in board["queues"] if q["name"] == "billing")
        assert (billing["answered"], billing["answered_in_sl"], billing["abandoned"]) == (1, 1, 1)
        assert billing["service_level_pct"] == 50.0
        assert billing["service_level_s"] == 20.0
        assert billing["agents"]["wrap_up"] == 1
        general = next(q for q in board["queues"] if q["name"] == "general")
        assert (general["answered"], general["service_level_pct"]) == (0, None)
        # wrap-up time ran out before the disposition was saved: it is still taken
        await env.routing.end_wrapup(aid)
        status, body = await call(
            env,
            "POST",
            f"/api/v1/agents/{aid}/wrapup",
            agent,
            {"task_id": "tk_day1", "disposition": "follow_up", "note": "late"},
        )
        assert (status, body["wrapup_ended"]) == (200, False), body
        stored = await SqlDeskHistory(env.db.engine).events_since(0.0, ("task.disposition",))
        assert [(e.task_id, e.payload["disposition"]) for e in stored] == [("tk_day1", "follow_up")]
        # the agent's own numbers are theirs only
        other = env.ids["agent1002"]
        assert (await call(env, "GET", f"/api/v1/agents/{other}/stats", agent))[0] == 403

        status, audit = await call(env, "GET", "/api/v1/audit?limit=5", sup)
        assert status == 200
        first = audit["entries"][0]
        assert (first["action"], first["target"], first["actor_id"]) == (
            "queue.open",
            "billing",
            env.ids["supervisor"],
        )
        assert (first["before"], first["after"]) == ({"open": True}, {"open": True})


async def test_agents_are_told_when_a_queue_closes(env: ApiEnv) -> None:
    await env.login("agent1001")
    ws: aiohttp.ClientWebSocketResponse = await env.client.ws_connect("/api/v1/ws")
    async with asyncio.timeout(5):
        assert (await ws.receive_json())["type"] == "hello"
    sup = await env.bearer("supervisor")
    status, _ = await call(env, "PUT", "/api/v1/queues/general/open", sup, {"open": False})
    assert status == 200
    async with asyncio.timeout(5):
        msg = await ws.receive_json()
    assert (msg["event"]["type"], msg["event"]["queue_id"]) == ("queue.closed", "general")
    await ws.close()


async def test_today_begins_at_midnight_in_the_centres_time_zone(
    sqlite_url: str, redis_url: str, redis_prefix: str
) -> None:
    zone = ZoneInfo("America/New_York")
    async with api_env(sqlite_url, redis_url, redis_prefix, timezone=zone.key) as env:
        sup = await env.bearer("supervisor")
        aid = env.ids["agent1001"]
        local = datetime.fromtimestamp(env.clock.now(), zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        board = (await call(env, "GET", "/api/v1/wallboard", sup))[1]
        assert board["since"] == midnight
        assert board["timezone"] == "America/New_York"
        stats = (await call(env, "GET", f"/api/v1/agents/{aid}/stats", sup))[1]
        assert stats["since"] == midnight
        assert stats["timezone"] == "America/New_York"


async def test_a_supervisor_sees_why_a_task_went_to_its_agent(
    sqlite_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Ann refuses the chat, Bob takes it: the task's routing story says so, with the
    explanation of Bob's offer (strategy, eligible agents, runner-up, why)."""
    async with api_env(sqlite_url, redis_url, redis_prefix, background=True) as env:
        sup = await env.bearer("supervisor")
        ann, bob = env.ids["agent1001"], env.ids["agent1002"]
        await available(env, "agent1001", await env.bearer("agent1001"))
        env.clock.advance(5)
        await available(env, "agent1002", await env.bearer("agent1002"))
        await env.routing.enqueue(TaskSpec(id="tk_why", channel="chat", queue="general"))

        async def offered_to(agent: str) -> bool:
            return [t.task_id for t in (await env.routing.agent_work(agent)).tasks] == ["tk_why"]

        await eventually(lambda: offered_to(ann), "ann, idle longest, is offered the chat")
        await env.routing.reject("tk_why", ann, "busy")
        await eventually(lambda: offered_to(bob), "then bob")
        await env.routing.accept("tk_why", bob)
        path = "/api/v1/tasks/tk_why/routing"

        async def stored() -> bool:
            status, body = await call(env, "GET", path, sup)
            return status == 200 and body["assigned_to"] == bob

        await eventually(stored, "the history consumer stores the assignment")
        status, body = await call(env, "GET", path, sup)
        assert not await schema_errors(env, sup, "/api/v1/tasks/{task_id}/routing", body)
        steps = [(st["type"], st["agent_id"]) for st in body["steps"]]
        assert steps == [
            ("task.enqueued", None), ("task.offered", ann), ("task.rejected", ann),
            ("task.offered", bob), ("task.accepted", bob), ("task.assigned", bob),
        ]  # fmt: skip
        assert body["why"].startswith("longest idle")
        explanation = body["steps"][-1]["payload"]["explanation"]
        assert explanation["winner"]["agent"] == bob
        assert explanation["eligible"] >= 1
        assert body["steps"][2]["payload"]["reason"] == "busy"
        assert (await call(env, "GET", path, await env.bearer("agent1001")))[0] == 403
        status, body = await call(env, "GET", "/api/v1/tasks/tk_nowhere/routing", sup)
        assert status == 404
        assert body["message"].startswith("task_id: ")
