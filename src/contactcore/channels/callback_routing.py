"""The routing engine as callbacks use it: ``callback.ports.CallbackRouting`` over the ACD.

Callbacks never import the ACD; this is where the two meet (channels may use both).
"""

from __future__ import annotations

import contextlib
import logging

from contactcore.acd.model import Channel, CustomerContext, TaskSpec
from contactcore.acd.service import RoutingService
from contactcore.callback.model import CallbackTask
from contactcore.errors import Conflict, NotFound

log = logging.getLogger(__name__)


class AcdCallbackRouting:
    def __init__(self, routing: RoutingService) -> None:
        self._routing = routing

    async def enqueue(self, task: CallbackTask) -> bool:
        spec = TaskSpec(
            id=task.id,
            channel=Channel.CALLBACK,
            queue=task.queue,
            priority=task.priority,
            skills=task.skills,
            customer=CustomerContext(id=task.customer_id, tier=task.tier, verified=task.verified),
            enqueued_at=task.enqueued_at,
            attributes=task.attributes,
        )
        try:
            await self._routing.enqueue(spec)
        except Conflict as exc:
            if exc.details.get("code") == "task_exists":
                return False
            raise
        return True

    async def withdraw(self, task_id: str, reason: str) -> None:
        with contextlib.suppress(Conflict, NotFound):
            await self._routing.withdraw(task_id, reason)

    async def accept(self, task_id: str, agent_id: str) -> bool:
        try:
            await self._routing.accept(task_id, agent_id)
        except (Conflict, NotFound) as exc:
            log.info("callback task %s: offer to %s gone (%s)", task_id, agent_id, exc)
            return False
        return True

    async def no_answer(self, task_id: str, agent_id: str) -> None:
        with contextlib.suppress(Conflict, NotFound):
            await self._routing.no_answer(task_id, agent_id)

    async def finish(self, task_id: str, agent_id: str, *, skip_wrapup: bool) -> None:
        try:
            await self._routing.finish(task_id, agent_id)
        except (Conflict, NotFound) as exc:
            log.info("callback task %s: not finished for %s (%s)", task_id, agent_id, exc)
            return
        if skip_wrapup:
            with contextlib.suppress(Conflict, NotFound):
                await self._routing.end_wrapup(agent_id)
