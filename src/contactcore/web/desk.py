"""What the agent desktop and the supervisor console show, assembled from the routing
engine's live state and the stored history (the handlers in web/api.py stay thin).

"Today" starts at midnight in the centre's time zone (``[web] timezone``, UTC by
default): one day boundary for every queue and agent, so the numbers of a queue and of
the agents serving it add up.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from contactcore.acd.events import ACD_EVENTS, TaskAssigned, payload_of
from contactcore.acd.model import AgentWork, QueueStats, WorkItem
from contactcore.core.desk import DeskHistory, QueueDay
from contactcore.core.events import DomainEvent
from contactcore.web import schemas as s

DESK = web.AppKey[DeskHistory]("desk")
DAY_ZONE = web.AppKey[ZoneInfo]("day_zone")  # where "today" begins

PREVIOUS_LIMIT = 5
# Channels whose offers the phone answers: the voice channel rings the agent and accepts
# on answer, so the desktop must not accept, reject or complete them (see docs/api.md).
# A callback too: the callback dialler rings the agent first and accepts on answer.
PHONE_CHANNELS = frozenset({"voice", "callback"})

AGENT_EVENTS = ("task.offered", "task.accepted", "task.rejected", "task.rona", "task.completed")


def day_start(now: float, zone: ZoneInfo) -> float:
    """The last midnight in ``zone`` (a day is 23 or 25 hours long when clocks change)."""
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def actions(item: WorkItem) -> list[str]:
    """What the desktop may do with the task now."""
    if item.channel in PHONE_CHANNELS:
        return ["transfer"] if item.state == "assigned" and item.channel == "voice" else []
    return ["accept", "reject"] if item.state == "offered" else ["complete"]


async def _customer(desk: DeskHistory, item: WorkItem) -> s.CustomerOut:
    c = item.customer
    interaction = item.attributes.get("interaction_id")
    interaction_id = interaction if isinstance(interaction, str) else None
    name = item.attributes.get("customer_name")
    if c.id is not None:
        name = await desk.customer_name(c.id) or name
    previous = (
        await desk.previous_interactions(c.id, interaction_id, PREVIOUS_LIMIT) if c.id else []
    )
    return s.CustomerOut(
        id=c.id,
        name=name if isinstance(name, str) else None,
        tier=c.tier,
        verified=c.verified,
        ivr_path=await desk.ivr_path(interaction_id) if interaction_id else [],
        previous=[
            s.PastInteractionOut(
                id=p.id,
                channel=p.channel,
                started_at=p.started_at,
                ended_at=p.ended_at,
                outcome=p.outcome,
                queue=p.queue_id,
                disposition=p.disposition,
            )
            for p in previous
        ],
    )


async def work_view(desk: DeskHistory, work: AgentWork, now: float) -> s.WorkOut:
    tasks = []
    for item in work.tasks:
        if item.state not in ("offered", "assigned"):
            continue
        tasks.append(
            s.WorkTaskOut(
                task_id=item.task_id,
                channel=item.channel,
                queue=item.queue_id,
                state="offered" if item.state == "offered" else "assigned",
                priority=item.priority,
                waited_s=max(0.0, now - item.enqueued_at),
                offer_deadline=item.offer_deadline,
                customer=await _customer(desk, item),
                attributes=item.attributes,
                actions=actions(item),
            )
        )
    return s.WorkOut(
        agent_id=work.agent_id,
        logged_in=work.logged_in,
        presence=work.presence.value,
        reason=work.reason,
        state=work.state,
        tasks=tasks,
        wrapups=[
            s.WrapUpOut(task_id=w.task_id, channel=w.channel, until=w.until) for w in work.wrapups
        ],
    )


async def agent_stats(
    desk: DeskHistory, agent_id: str, now: float, zone: ZoneInfo
) -> s.AgentStatsOut:
    since = day_start(now, zone)
    events = await desk.events_since(since, AGENT_EVENTS, agent_id)
    count = Counter(e.type for e in events)
    done = [e for e in events if e.type == "task.completed"]
    handle = sum(float(e.payload.get("handle_time") or 0.0) for e in done)
    return s.AgentStatsOut(
        agent_id=agent_id,
        since=since,
        timezone=zone.key,
        offered=count["task.offered"],
        accepted=count["task.accepted"],
        rejected=count["task.rejected"],
        missed=count["task.rona"],
        completed=len(done),
        handle_time_s=round(handle, 3),
        average_handle_time_s=round(handle / len(done), 3) if done else None,
        completed_by_channel=dict(Counter(str(e.payload.get("channel", "")) for e in done)),
    )


def queue_out(q: QueueStats) -> s.QueueOut:
    """A queue's live numbers as the API shows them (queue list and wallboard)."""
    tasks = [s.TaskPositionOut(**t.model_dump()) for t in q.tasks]
    return s.QueueOut(
        name=q.queue_id,
        open=q.open,
        waiting=q.waiting,
        longest_wait_s=q.longest_wait_s,
        # a task joining now waits about as long as the last one in line, or less
        ewt_s=tasks[-1].ewt_s if tasks else 0.0,
        ewt_method=q.ewt_method,
        agents=q.agents,
        tasks=tasks,
    )


async def wallboard(
    desk: DeskHistory, stats: list[QueueStats], now: float, zone: ZoneInfo
) -> s.WallboardOut:
    since = day_start(now, zone)
    # counted in SQL: consoles re-read this on every event, and a day has many of them
    days = await desk.queue_counts(since, {q.queue_id: q.service_level_s for q in stats})
    out = []
    for q in stats:
        day = days.get(q.queue_id, QueueDay())
        closed = day.answered + day.abandoned
        out.append(
            s.WallboardQueueOut(
                **dict(queue_out(q)),
                service_level_s=q.service_level_s,
                service_level_pct=round(100.0 * day.answered_in_sl / closed, 1) if closed else None,
                answered=day.answered,
                abandoned=day.abandoned,
                answered_in_sl=day.answered_in_sl,
            )
        )
    return s.WallboardOut(since=since, timezone=zone.key, queues=out)


async def task_routing(desk: DeskHistory, task_id: str) -> s.TaskRoutingOut | None:
    """The task's routing events, and the why of its last assignment (None: no history)."""
    steps = [e for e in await desk.task_events(task_id) if e.type in ACD_EVENTS]
    if not steps:
        return None
    assigned = next((e for e in reversed(steps) if e.type == "task.assigned"), None)
    explanation = None
    if assigned is not None:
        payload = payload_of(
            DomainEvent(type=assigned.type, at=assigned.at, payload=assigned.payload)
        )
        if isinstance(payload, TaskAssigned):
            explanation = payload.explanation
    runner = explanation.runner_up if explanation else None
    return s.TaskRoutingOut(
        task_id=task_id,
        assigned_to=assigned.agent_id if assigned else None,
        why=explanation.why if explanation else None,
        runner_up=runner.agent if runner else None,
        steps=[
            s.RoutingStepOut(
                type=e.type, at=e.at, agent_id=e.agent_id, queue_id=e.queue_id, payload=e.payload
            )
            for e in steps
        ],
    )
