"""``contactcore acd status`` against real Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from contactcore.acd.model import QueueConfig, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.adapters.redis.routing_store import RedisRoutingStore
from contactcore.cli import main
from contactcore.testing.acd_fakes import ManualClock

pytestmark = pytest.mark.integration


async def test_acd_status_prints_live_numbers(
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    svc = RoutingService(RedisRoutingStore(client, redis_prefix), ManualClock())
    await svc.put_queue(QueueConfig(id="sales"))
    await svc.enqueue(TaskSpec(id="t1", channel="voice", queue="sales"))
    await client.aclose()
    monkeypatch.setenv("CONTACTCORE_REDIS__URL", redis_url)
    monkeypatch.setenv("CONTACTCORE_REDIS__KEY_PREFIX", redis_prefix)
    assert await asyncio.to_thread(main, ["acd", "status", "--json"]) == 0
    (stats,) = json.loads(capsys.readouterr().out)
    assert stats["queue_id"] == "sales"
    assert stats["waiting"] == 1
    assert stats["tasks"][0]["task_id"] == "t1"
