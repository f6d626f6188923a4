"""The staffing endpoint over a real database holding generated planning history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from contactcore.adapters.db import open_database, upgrade
from contactcore.adapters.db.wfm_store import SqlHistory, SqlIntervalStore
from contactcore.web.app import build_web_app
from contactcore.wfm.service import WfmConfig, WfmService, seed_demo_history

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await upgrade(sqlite_url)
    db = await open_database(sqlite_url)
    store = SqlIntervalStore(db.engine)
    await seed_demo_history(store, ["general"], date(2026, 11, 2), days=28)
    service = WfmService(store, SqlHistory(db.engine), WfmConfig())
    app = build_web_app({}, CollectorRegistry(), service)
    async with TestClient(TestServer(app)) as c:
        yield c
    await db.close()


async def test_staffing_table_as_json(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get(
        "/api/v1/wfm/staffing",
        params={"queue": "general", "days": "1", "shrinkage": "0.3", "max_occupancy": "0.85"},
    )
    assert resp.status == 200, await resp.text()
    plan = await resp.json()
    assert plan["queue_id"] == "general"
    assert plan["staffing_model"] == "c"
    assert len(plan["intervals"]) == 96  # 15-minute intervals of one day
    busy = [i for i in plan["intervals"] if i["raw_agents"] > 0]
    assert busy
    for row in busy:
        assert row["agents_after_shrinkage"] * 0.7 >= row["raw_agents"] - 1e-9
        assert row["occupancy"] <= 0.85 + 1e-9


async def test_staffing_chart_as_svg(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/api/v1/wfm/staffing", params={"queue": "general", "format": "svg"})
    assert resp.status == 200
    assert resp.content_type == "image/svg+xml"
    assert (await resp.text()).lstrip().startswith("<svg")


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({}, 400, "queue"),
        ({"queue": "general", "model": "x"}, 400, "model"),
        ({"queue": "general", "shrinkage": "1.5"}, 400, "shrinkage"),
        ({"queue": "general", "from": "yesterday"}, 400, "from"),
        ({"queue": "general", "target_sl": "high"}, 400, "target_sl"),
        ({"queue": "nowhere"}, 404, None),
    ],
)
async def test_bad_requests_say_what_to_fix(
    client: TestClient,  # type: ignore[type-arg]
    params: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    resp = await client.get("/api/v1/wfm/staffing", params=params)
    assert resp.status == status
    body = await resp.json()
    assert body["message"]
    if field:
        assert body["message"].startswith(field)
