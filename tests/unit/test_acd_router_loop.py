"""The router loop outlives a failing store (Redis restarting) and goes on routing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from contactcore.acd.service import RoutingService
from contactcore.testing.acd_fakes import ManualClock


class FlakyStore:
    """Refuses its first calls as a restarting Redis would, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.commands: list[str] = []

    async def execute(self, command: str, now: float, args: Mapping[str, Any]) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("Connection refused")
        self.commands.append(command)
        if command == "match":
            return {"offers": []}
        return {"rona": 0, "wrapups": 0, "waits": 0, "overflowed": {}, "withdrawn": {}}

    async def execute_many(
        self, calls: Sequence[tuple[str, float, Mapping[str, Any]]]
    ) -> list[Any]:
        return [await self.execute(*c) for c in calls]

    async def is_live(self) -> bool:
        return True


async def test_the_router_goes_on_after_the_store_failed() -> None:
    store = FlakyStore(failures=3)
    svc = RoutingService(store, ManualClock())  # type: ignore[arg-type]
    stop = asyncio.Event()
    router = asyncio.create_task(svc.run(stop, tick_s=0.0, idle_s=0.001))
    for _ in range(300):
        if "match" in store.commands:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(router, 2)
    assert store.failures == 0
    assert {"match", "tick"} <= set(store.commands)
