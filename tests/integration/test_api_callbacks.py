"""Scheduled callbacks through the API, over real SQLite and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix) as e:
        yield e


async def test_a_second_request_for_the_same_number_and_queue_updates_the_first(
    env: ApiEnv,
) -> None:
    headers = await env.bearer("supervisor")
    later = env.clock.now() + 3600
    body = {"number": "(202) 555-0143", "queue": "billing", "window_start": later}
    first = await env.client.post("/api/v1/callbacks", json=body, headers=headers)
    assert first.status == 201, await first.text()
    made = await first.json()
    assert made["number"] == "+12025550143"
    assert made["state"] == "pending"  # its window has not begun: not in the queue yet
    assert made["enqueued_at"] == later
    second = await env.client.post(
        "/api/v1/callbacks",
        json=body | {"window_start": later + 600, "name": "Dana Whitfield"},
        headers=headers,
    )
    assert second.status == 200, await second.text()
    updated = await second.json()
    assert updated["id"] == made["id"]
    assert updated["task_id"] == made["task_id"]
    assert updated["window_start"] == later + 600
    assert updated["name"] == "Dana Whitfield"
    assert updated["enqueued_at"] == later, "keeps the earlier place"
    listed = await (await env.client.get("/api/v1/callbacks", headers=headers)).json()
    assert [c["id"] for c in listed["callbacks"]] == [made["id"]]
    # in SQL, once
    rows = await env.db.callbacks.list_pending()
    assert [(r.id, r.number, r.queue_id) for r in rows] == [(made["id"], "+12025550143", "billing")]
    # an agent sees only the callbacks offered to them: none yet
    agent = await env.bearer("agent1001")
    mine = await (await env.client.get("/api/v1/callbacks", headers=agent)).json()
    assert mine == {"callbacks": []}


async def test_a_window_that_has_begun_enters_the_queue_at_once_in_its_place(
    env: ApiEnv,
) -> None:
    headers = await env.bearer("supervisor")
    now = env.clock.now()
    resp = await env.client.post(
        "/api/v1/callbacks",
        json={"number": "+12025550144", "queue": "general", "window_start": now - 30},
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["state"] == "queued"
    (general,) = [q for q in await env.routing.live_numbers() if q.queue_id == "general"]
    assert [t.task_id for t in general.tasks] == [made["task_id"]]
    state = await env.routing.store.read_state()
    assert state["enqueued_at"][made["task_id"]] == pytest.approx(now)
    # durable twice over: the callback row and the ACD's open task (channel callback)
    task = await env.db.tasks.get(made["task_id"])
    assert task is not None
    assert task.channel == "callback"


async def test_a_supervisor_cancels_a_queued_callback_and_it_leaves_the_queue(
    env: ApiEnv,
) -> None:
    headers = await env.bearer("supervisor")
    resp = await env.client.post(
        "/api/v1/callbacks",
        json={"number": "+12025550146", "queue": "general", "window_start": env.clock.now()},
        headers=headers,
    )
    made = await resp.json()
    assert made["state"] == "queued"
    url = f"/api/v1/callbacks/{made['id']}"
    agent = await env.bearer("agent1001")
    assert (await env.client.delete(url, headers=agent)).status == 403
    cancelled = await env.client.delete(url + "?reason=customer+called+in", headers=headers)
    assert cancelled.status == 200, await cancelled.text()
    body = await cancelled.json()
    assert (body["state"], body["last_reason"]) == ("cancelled", "customer called in")
    # out of the ACD and of SQL's open callbacks and open tasks
    (general,) = [q for q in await env.routing.live_numbers() if q.queue_id == "general"]
    assert not general.tasks
    assert await env.db.callbacks.list_pending() == []
    assert await env.db.tasks.get(made["task_id"]) is None
    listed = await (await env.client.get("/api/v1/callbacks", headers=headers)).json()
    assert listed == {"callbacks": []}
    again = await env.client.delete(url, headers=headers)
    assert again.status == 409
    assert "already cancelled" in (await again.json())["message"]
    missing = await env.client.delete("/api/v1/callbacks/cb_nope", headers=headers)
    assert missing.status == 404


WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


async def test_outside_business_hours_is_refused_with_a_clear_message(
    sqlite_url: str, redis_url: str, redis_prefix: str
) -> None:
    changes = {"billing": {"hours": WEEKDAYS | {"sat": [], "sun": []}}}
    async with api_env(sqlite_url, redis_url, redis_prefix, queue_changes=changes) as env:
        record = await env.db.queues.get_by_name("billing")
        assert record is not None
        zone = ZoneInfo(record.timezone)
        saturday = datetime(2027, 1, 16, 11, 0, tzinfo=zone).timestamp()
        monday = datetime(2027, 1, 18, 11, 0, tzinfo=zone).timestamp()
        evening = datetime(2027, 1, 18, 17, 30, tzinfo=zone).timestamp()
        headers = await env.bearer("supervisor")
        body = {"number": "+12025550145", "queue": "billing", "window_start": saturday}
        for closed in (saturday, evening):
            refused = await env.client.post(
                "/api/v1/callbacks", json=body | {"window_start": closed}, headers=headers
            )
            assert refused.status == 422
            error = await refused.json()
            assert error["error"] == "unprocessable"
            assert error["message"].startswith("window_start: queue billing is outside its")
            assert "business hours" in error["message"]
        assert await env.db.callbacks.list_pending() == []
        ok = await env.client.post(
            "/api/v1/callbacks", json=body | {"window_start": monday}, headers=headers
        )
        assert ok.status == 201, await ok.text()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"number": "12", "queue": "general", "window_start": 1800000000.0}, 400, "number"),
        ({"number": "+12025550143", "queue": "nope", "window_start": 1800000000.0}, 404, "queue"),
        (
            {
                "number": "+12025550143",
                "queue": "general",
                "window_start": 1800000000.0,
                "window_end": 1700000000.0,
            },
            400,
            "window_end",
        ),
        ({"number": "+12025550143", "queue": "general"}, 400, "window_start"),
    ],
)
async def test_bad_requests_name_the_field(
    env: ApiEnv, body: dict[str, object], status: int, field: str
) -> None:
    headers = await env.bearer("supervisor")
    resp = await env.client.post("/api/v1/callbacks", json=body, headers=headers)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["message"].startswith(field)
    assert await env.db.callbacks.list_pending() == []


async def test_a_callback_is_answered_on_the_phone_not_on_the_desktop(env: ApiEnv) -> None:
    """The callback dialler rings the agent's phone and accepts on answer: the desktop
    shows the offer (with the callbacks) but may not accept, reject, complete or
    transfer it."""
    agent = await env.bearer("agent1001")
    aid = env.ids["agent1001"]
    resp = await env.client.put(
        f"/api/v1/agents/{aid}/presence", json={"presence": "available"}, headers=agent
    )
    assert resp.status == 200, await resp.text()
    sup = await env.bearer("supervisor")
    made = await env.client.post(
        "/api/v1/callbacks",
        json={"number": "+12025550146", "queue": "general", "window_start": env.clock.now()},
        headers=sup,
    )
    task_id = (await made.json())["task_id"]
    [offer] = await env.routing.route()
    assert (offer.task_id, offer.agent_id, offer.channel) == (task_id, aid, "callback")
    work = await (await env.client.get(f"/api/v1/agents/{aid}/work", headers=agent)).json()
    assert [(t["task_id"], t["channel"], t["actions"]) for t in work["tasks"]] == [
        (task_id, "callback", [])
    ]
    for action in ("accept", "reject", "complete"):
        resp = await env.client.post(
            f"/api/v1/agents/{aid}/tasks/{task_id}/{action}", json={}, headers=agent
        )
        assert resp.status == 409, (action, await resp.text())
        assert (await resp.json())["error"] == "desk.refused"
    await env.routing.accept(task_id, aid)  # what the dialler does when the phone answers
    work = await (await env.client.get(f"/api/v1/agents/{aid}/work", headers=agent)).json()
    assert [t["actions"] for t in work["tasks"]] == [[]], "no transfer of a callback"
