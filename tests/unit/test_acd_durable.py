"""The in-memory durable store behaves like the SQL one must: upsert, assign, delete."""

from __future__ import annotations

from contactcore.testing.acd_fakes import InMemoryDurableStore


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
