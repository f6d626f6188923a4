"""Interaction history: one row per call/chat/email and its timeline of events.

Implements the ``InteractionRecorder`` port. Events are stored idempotently by their
id, because the stream consumer delivers at least once, and may arrive before the
interaction row exists (different writers), which is why there is no foreign key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, select, update

from contactcore.adapters.db._base import Repository, dialect_insert, insert_ignore
from contactcore.adapters.db.records import InteractionEventRecord, InteractionRecord
from contactcore.adapters.db.tables import interaction_events, interactions
from contactcore.core.events import DomainEvent
from contactcore.errors import NotFound

log = logging.getLogger(__name__)

DEFAULT_LIST_LIMIT = 1000


def _event(row: Row[Any]) -> InteractionEventRecord:
    return InteractionEventRecord(
        id=row.id,
        interaction_id=row.interaction_id,
        type=row.type,
        at=row.at,
        task_id=row.task_id,
        agent_id=row.agent_id,
        queue_id=row.queue_id,
        payload=dict(row.payload),
    )


def _interaction(
    row: Row[Any], events: tuple[InteractionEventRecord, ...] = ()
) -> InteractionRecord:
    return InteractionRecord(
        id=row.id,
        channel=row.channel,
        direction=row.direction,
        caller=row.caller,
        called=row.called,
        customer_id=row.customer_id,
        queue_id=row.queue_id,
        agent_id=row.agent_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
        recording=row.recording,
        attributes=dict(row.attributes),
        events=events,
    )


class InteractionRepository(Repository):
    """The ``InteractionRecorder`` port plus reading history back."""

    async def start(
        self,
        interaction_id: str,
        channel: str,
        started_at: float,
        caller: str | None = None,
        called: str | None = None,
        *,
        direction: str = "inbound",
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Open the record; starting the same interaction twice keeps the first."""
        async with self._tx() as conn:
            await conn.execute(
                insert_ignore(
                    conn,
                    interactions,
                    {
                        "id": interaction_id,
                        "channel": channel,
                        "direction": direction,
                        "caller": caller,
                        "called": called,
                        "started_at": started_at,
                        "attributes": dict(attributes or {}),
                    },
                    ["id"],
                )
            )
        log.debug("interaction %s started (%s from %s)", interaction_id, channel, caller)

    async def add_event(self, event: DomainEvent) -> None:
        """Append to the timeline; a redelivered event (same id) is stored once."""
        await self.add_events([event])

    async def add_events(self, events: Sequence[DomainEvent]) -> None:
        """Append many events in one transaction (for a stream consumer's batch)."""
        if not events:
            return
        rows = [
            {
                "id": e.id,
                "interaction_id": e.interaction_id,
                "type": e.type,
                "at": e.at,
                "task_id": e.task_id,
                "agent_id": e.agent_id,
                "queue_id": e.queue_id,
                "payload": e.payload,
            }
            for e in events
        ]
        async with self._tx() as conn:
            stmt: Any = dialect_insert(conn, interaction_events)
            # executemany: SQLAlchemy batches the rows into multi-row INSERTs itself.
            await conn.execute(
                stmt.on_conflict_do_nothing(index_elements=[interaction_events.c.id]), rows
            )

    async def annotate(
        self,
        interaction_id: str,
        *,
        customer_id: str | None = None,
        queue_id: str | None = None,
        agent_id: str | None = None,
        recording: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Set what became known during the interaction; ``attributes`` are merged in."""
        values: dict[str, Any] = {
            k: v
            for k, v in {
                "customer_id": customer_id,
                "queue_id": queue_id,
                "agent_id": agent_id,
                "recording": recording,
            }.items()
            if v is not None
        }
        row_filter = interactions.c.id == interaction_id
        async with self._tx("unknown customer") as conn:
            # Write first: the UPDATE takes the row lock (PostgreSQL) or the write lock
            # (SQLite) before attributes are read, so concurrent merges do not lose data.
            result = await conn.execute(
                update(interactions).where(row_filter).values(**(values or {"id": interaction_id}))
            )
            if result.rowcount == 0:
                raise NotFound(f"interaction {interaction_id} not found")
            if attributes:
                current = await conn.scalar(select(interactions.c.attributes).where(row_filter))
                merged = {**dict(current or {}), **attributes}
                await conn.execute(update(interactions).where(row_filter).values(attributes=merged))

    async def finish(self, interaction_id: str, ended_at: float, outcome: str) -> None:
        async with self._tx() as conn:
            result = await conn.execute(
                update(interactions)
                .where(interactions.c.id == interaction_id)
                .values(ended_at=ended_at, outcome=outcome)
            )
        if result.rowcount == 0:
            raise NotFound(f"interaction {interaction_id} not found")
        log.debug("interaction %s finished: %s", interaction_id, outcome)

    async def get_interaction(self, interaction_id: str) -> InteractionRecord | None:
        """The interaction with its timeline in order of time (then of arrival)."""
        async with self._tx() as conn:
            row = (
                await conn.execute(select(interactions).where(interactions.c.id == interaction_id))
            ).first()
            if row is None:
                return None
            events = (
                await conn.execute(
                    select(interaction_events)
                    .where(interaction_events.c.interaction_id == interaction_id)
                    .order_by(interaction_events.c.at, interaction_events.c.seq)
                )
            ).all()
        return _interaction(row, tuple(_event(e) for e in events))

    async def list_interactions(
        self,
        since: float,
        until: float,
        queue_id: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> list[InteractionRecord]:
        """Interactions started in ``[since, until)``, oldest first, without timelines."""
        query = select(interactions).where(
            interactions.c.started_at >= since, interactions.c.started_at < until
        )
        if queue_id is not None:
            query = query.where(interactions.c.queue_id == queue_id)
        query = query.order_by(interactions.c.started_at, interactions.c.id).limit(limit)
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [_interaction(r) for r in rows]

    async def list_for_customer(self, customer_id: str, limit: int = 20) -> list[InteractionRecord]:
        """The customer's latest interactions, newest first (an agent's context)."""
        query = (
            select(interactions)
            .where(interactions.c.customer_id == customer_id)
            .order_by(interactions.c.started_at.desc(), interactions.c.id.desc())
            .limit(limit)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [_interaction(r) for r in rows]
