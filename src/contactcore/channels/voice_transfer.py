"""Blind transfer of the call an agent holds to another queue, asked from any process.

The web request may land in a controller process that does not carry the call, so the
request is not a local call: it is checked against the routing state (the agent holds
an assigned voice task; the queue exists and is open) and published on the event
stream as ``call.transfer_requested`` with the task's id. Every process follows the
stream and hands each task's events to the coroutine that owns the call
(``TaskSignals``); that one carries it out (``VoiceQueue``): the agent's leg is hung
up, the agent wraps up the old task, and the caller waits in the new queue as a new
task with the same customer context and verification.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from contactcore.acd.service import RoutingService
from contactcore.core.clock import Clock
from contactcore.core.events import DomainEvent
from contactcore.core.ports import EventBus
from contactcore.errors import NotFound, Unprocessable

log = logging.getLogger(__name__)

TRANSFER_REQUESTED = "call.transfer_requested"


@dataclass(frozen=True, slots=True)
class TransferRequested:
    agent_id: str
    task_id: str
    from_queue: str
    to_queue: str
    interaction_id: str | None


class VoiceTransfers:
    def __init__(self, routing: RoutingService, bus: EventBus, clock: Clock) -> None:
        self._routing = routing
        self._bus = bus
        self._clock = clock

    async def request(self, agent_id: str, queue: str, requested_by: str) -> TransferRequested:
        """Ask the call's owner to transfer the agent's call to ``queue``.

        NotFound when the agent holds no call (a call still ringing is not held);
        Unprocessable naming ``queue`` when it is unknown, closed or the call's own.
        """
        held = [
            t
            for t in (await self._routing.agent_work(agent_id)).tasks
            if t.channel == "voice" and t.state == "assigned"
        ]
        if not held:
            raise NotFound(f"agent_id: agent {agent_id} has no call in hand", agent_id=agent_id)
        call = held[0]
        stats = {q.queue_id: q for q in await self._routing.live_numbers()}
        target = stats.get(queue)
        if target is None:
            raise Unprocessable(f"queue: no queue named {queue}", field="queue")
        if not target.open:
            raise Unprocessable(f"queue: queue {queue} is closed", field="queue")
        if queue == call.queue_id:
            raise Unprocessable(f"queue: the call is already in queue {queue}", field="queue")
        interaction_id = call.attributes.get("interaction_id")
        await self._bus.publish(
            DomainEvent(
                type=TRANSFER_REQUESTED,
                at=self._clock.now(),
                interaction_id=interaction_id if isinstance(interaction_id, str) else None,
                task_id=call.task_id,
                agent_id=agent_id,
                queue_id=call.queue_id,
                payload={"queue": queue, "requested_by": requested_by},
            )
        )
        log.info(
            "transfer of task %s (agent %s, %s) to %s requested by %s",
            call.task_id,
            agent_id,
            call.queue_id,
            queue,
            requested_by,
        )
        return TransferRequested(
            agent_id=agent_id,
            task_id=call.task_id,
            from_queue=call.queue_id,
            to_queue=queue,
            interaction_id=interaction_id if isinstance(interaction_id, str) else None,
        )
