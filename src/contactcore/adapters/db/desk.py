"""``core.desk.DeskHistory`` over SQL: customer context, dispositions, today's events.

A disposition is an event in the interaction's timeline (``task.disposition``) and, when
the task belongs to a recorded interaction, also the interaction's ``disposition`` and
``note`` attributes, so both a timeline and a list of interactions show it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contactcore.adapters.db._base import Repository, insert_ignore
from contactcore.adapters.db.tables import customers, interaction_events, interactions
from contactcore.core.desk import Disposition, HistoryEvent, PastInteraction, QueueDay
from contactcore.core.ids import new_id

IVR_TYPES = ("ivr.flow_entered", "ivr.menu_choice", "ivr.idv", "ivr.queue_entered", "ivr.set")


def ivr_step(type_: str, p: dict[str, Any]) -> str | None:
    """One IVR event in words, for the agent (None: not worth showing)."""
    if type_ == "ivr.flow_entered":
        return f"flow {p.get('name') or p.get('number')}"
    if type_ == "ivr.menu_choice":
        return f"menu key {p.get('key')} -> {p.get('to')}"
    if type_ == "ivr.idv":
        return f"{p.get('step')}: {p.get('outcome')}"
    if type_ == "ivr.queue_entered":
        return f"queue {p.get('queue_id')}"
    return None


class SqlDeskHistory(Repository):
    async def customer_name(self, customer_id: str) -> str | None:
        async with self._tx() as conn:
            name = await conn.scalar(select(customers.c.name).where(customers.c.id == customer_id))
        return None if name is None else str(name)

    async def ivr_path(self, interaction_id: str) -> list[str]:
        query = (
            select(
                interaction_events.c.type,
                interaction_events.c.payload,
                interaction_events.c.queue_id,
            )
            .where(
                interaction_events.c.interaction_id == interaction_id,
                interaction_events.c.type.in_(IVR_TYPES),
            )
            .order_by(interaction_events.c.at, interaction_events.c.seq)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        steps = [ivr_step(r.type, {"queue_id": r.queue_id, **dict(r.payload)}) for r in rows]
        return [s for s in steps if s]

    async def previous_interactions(
        self, customer_id: str, exclude: str | None, limit: int
    ) -> list[PastInteraction]:
        query = select(interactions).where(interactions.c.customer_id == customer_id)
        if exclude is not None:
            query = query.where(interactions.c.id != exclude)
        query = query.order_by(interactions.c.started_at.desc(), interactions.c.id.desc()).limit(
            limit
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [_past(r) for r in rows]

    async def record_completion(
        self, task_id: str, agent_id: str, interaction_id: str, queue_id: str, at: float
    ) -> None:
        event = {"interaction_id": interaction_id, "type": "desk.completed", "at": at}
        async with self._tx() as conn:
            await _add_event(conn, event, task_id, agent_id, queue_id, {})

    async def record_disposition(self, disposition: Disposition) -> str | None:
        d = disposition
        async with self._tx() as conn:
            interaction_id = d.interaction_id or await conn.scalar(
                select(interaction_events.c.interaction_id)
                .where(
                    interaction_events.c.task_id == d.task_id,
                    interaction_events.c.interaction_id.is_not(None),
                )
                .limit(1)
            )
            event = {"interaction_id": interaction_id, "type": "task.disposition", "at": d.at}
            payload = {"disposition": d.code, "note": d.note}
            await _add_event(conn, event, d.task_id, d.agent_id, d.queue_id, payload)
            if interaction_id is not None:
                where = interactions.c.id == interaction_id
                attrs = await conn.scalar(select(interactions.c.attributes).where(where))
                if attrs is not None:
                    merged = {**dict(attrs), "disposition": d.code, "note": d.note}
                    await conn.execute(update(interactions).where(where).values(attributes=merged))
        return None if interaction_id is None else str(interaction_id)

    async def queue_counts(self, since: float, thresholds: dict[str, float]) -> dict[str, QueueDay]:
        if not thresholds:
            return {}
        ev = interaction_events.c
        assigned = ev.type == "task.assigned"
        limit = case(thresholds, value=ev.queue_id, else_=0.0)
        in_sl = and_(assigned, ev.payload["waited"].as_float() <= limit)
        gone = and_(ev.type == "task.withdrawn", ev.payload["reason"].as_string() == "abandoned")
        query = (
            select(
                ev.queue_id,
                func.sum(case((assigned, 1), else_=0)),
                func.sum(case((in_sl, 1), else_=0)),
                func.sum(case((gone, 1), else_=0)),
            )
            .where(
                ev.at >= since,
                ev.type.in_(("task.assigned", "task.withdrawn")),
                ev.queue_id.in_(list(thresholds)),
            )
            .group_by(ev.queue_id)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return {r[0]: QueueDay(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    async def events_since(
        self, since: float, types: tuple[str, ...], agent_id: str | None = None
    ) -> list[HistoryEvent]:
        query = select(interaction_events).where(
            interaction_events.c.at >= since, interaction_events.c.type.in_(types)
        )
        if agent_id is not None:
            query = query.where(interaction_events.c.agent_id == agent_id)
        async with self._tx() as conn:
            rows = (await conn.execute(query.order_by(interaction_events.c.at))).all()
        return [
            HistoryEvent(r.type, r.at, r.task_id, r.agent_id, r.queue_id, dict(r.payload))
            for r in rows
        ]

    async def task_events(self, task_id: str) -> list[HistoryEvent]:
        query = (
            select(interaction_events)
            .where(interaction_events.c.task_id == task_id)
            .order_by(interaction_events.c.at, interaction_events.c.seq)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [
            HistoryEvent(r.type, r.at, r.task_id, r.agent_id, r.queue_id, dict(r.payload))
            for r in rows
        ]


async def _add_event(
    conn: AsyncConnection,
    event: dict[str, Any],
    task_id: str,
    agent_id: str,
    queue_id: str | None,
    payload: dict[str, Any],
) -> None:
    row = event | {"id": new_id("ev_"), "task_id": task_id, "agent_id": agent_id}
    row |= {"queue_id": queue_id, "payload": payload}
    await conn.execute(insert_ignore(conn, interaction_events, row, ["id"]))


def _past(row: Row[Any]) -> PastInteraction:
    attrs = dict(row.attributes or {})
    return PastInteraction(
        id=row.id,
        channel=row.channel,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
        queue_id=row.queue_id,
        disposition=attrs.get("disposition"),
    )
