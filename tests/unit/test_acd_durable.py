"""The in-memory durable store behaves like the SQL one must: upsert, assign, delete; and
the routing service writes durable tasks before the engine can offer them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from contactcore.acd.model import TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.errors import Conflict
from contactcore.testing.acd_fakes import InMemoryDurableStore, ManualClock


async def test_durable_store_round_trip() -> None:
    store = InMemoryDurableStore()
    await store.save_agent({"id": "a", "skills": {"x": 3}, "presence": "available"})
    await store.save_agent({"id": "a", "skills": {"x": 5}, "presence": "not_ready"})
    assert await store.list_agents() == [{"id": "a", "skills": {"x": 5}, "presence": "not_ready"}]
    await store.save_task({"id": "t", "channel": "email", "state": "waiting"})
    await store.assign_task("t", "a")
    (task,) = await store.list_tasks()
    assert task["state"] == "assigned"
    assert task["agent_id"] == "a"
    await store.delete_task("t")
    await store.delete_agent("a")
    assert await store.list_tasks() == []
    assert await store.list_agents() == []


async def test_a_durable_task_is_stored_before_it_can_be_offered() -> None:
    """The accept of an offer made at once must find the task's row: SQL first, then the
    routing engine; a refusal takes the row back."""
    order: list[str] = []
    durable = InMemoryDurableStore()

    class Store:
        async def execute(self, command: str, now: float, args: Mapping[str, Any]) -> Any:
            order.append(f"{command}: stored={sorted(durable.tasks)}")
            return [
                {"ok": True, "task": t["id"]} if t["queue"] == "open" else
                {"err": "queue_closed", "task": t["id"]}
                for t in args["tasks"]
            ]  # fmt: skip

    svc = RoutingService(Store(), ManualClock(), durable=durable)  # type: ignore[arg-type]
    await svc.enqueue(TaskSpec(id="c1", channel="chat", queue="open"))
    assert order == ["enqueue: stored=['c1']"]
    with pytest.raises(Conflict):
        await svc.enqueue(TaskSpec(id="c2", channel="chat", queue="shut"))
    assert sorted(durable.tasks) == ["c1"]
