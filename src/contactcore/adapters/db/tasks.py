"""Durable routing state: open tasks and callbacks, so nothing is lost with Redis."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from contactcore.adapters.db._base import Repository, dialect_insert, upsert
from contactcore.adapters.db.records import CallbackRecord, TaskRecord
from contactcore.adapters.db.tables import CALLBACK_CLOSED_STATES, callbacks, tasks
from contactcore.core.ids import new_id
from contactcore.errors import Conflict, NotFound


def _task(row: Row[Any]) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        channel=row.channel,
        queue_id=row.queue_id,
        priority=row.priority,
        state=row.state,
        enqueued_at=row.enqueued_at,
        updated_at=row.updated_at,
        deadline=row.deadline,
        customer_id=row.customer_id,
        data=dict(row.data),
    )


class OpenTaskRepository(Repository):
    """Tasks not yet finished. The ACD writes through; a finished task is deleted."""

    async def upsert(self, task: TaskRecord) -> None:
        async with self._tx() as conn:
            await conn.execute(upsert(conn, tasks, asdict(task), ["id"]))

    async def add(self, task: TaskRecord) -> bool:
        """Insert the task unless one with its id exists (which is left as it is)."""
        async with self._tx() as conn:
            stmt: Any = dialect_insert(conn, tasks)
            result = await conn.execute(
                stmt.on_conflict_do_nothing(index_elements=[tasks.c.id]), [asdict(task)]
            )
        return bool(result.rowcount)

    async def upsert_many(self, records: Sequence[TaskRecord]) -> None:
        """Write many tasks in one transaction (rebuilds, batched write-through)."""
        if not records:
            return
        async with self._tx() as conn:
            stmt: Any = dialect_insert(conn, tasks)
            columns = [c.name for c in tasks.c if c.name != "id"]
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[tasks.c.id], set_={c: stmt.excluded[c] for c in columns}
                ),
                [asdict(t) for t in records],
            )

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        async with self._tx() as conn:
            result = await conn.execute(delete(tasks).where(tasks.c.id.in_(list(task_ids))))
        return int(result.rowcount)

    async def delete(self, task_id: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(delete(tasks).where(tasks.c.id == task_id))
        return bool(result.rowcount)

    async def get(self, task_id: str) -> TaskRecord | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
        return None if row is None else _task(row)

    async def change(
        self, task_id: str, change: Callable[[TaskRecord], Mapping[str, Any]]
    ) -> TaskRecord | None:
        """Read the task and write back ``change(record)`` (column -> value) in one
        transaction, the row locked meanwhile (PostgreSQL), so that two processes changing
        the same task (an overflow, an accept) never undo each other. None: no such task."""
        async with self._tx() as conn:
            query = select(tasks).where(tasks.c.id == task_id).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            values = dict(change(_task(row)))
            await conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
            row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
        assert row is not None
        return _task(row)

    async def list(self, queue_id: str | None = None) -> list[TaskRecord]:
        """Open tasks in service order within a priority: earliest enqueued first."""
        query = select(tasks).order_by(tasks.c.enqueued_at, tasks.c.id)
        if queue_id is not None:
            query = query.where(tasks.c.queue_id == queue_id)
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [_task(r) for r in rows]


def _callback(row: Row[Any]) -> CallbackRecord:
    return CallbackRecord(
        id=row.id,
        task_id=row.task_id,
        queue_id=row.queue_id,
        number=row.number,
        requested_at=row.requested_at,
        window_start=row.window_start,
        window_end=row.window_end,
        attempts=row.attempts,
        state=row.state,
        last_reason=row.last_reason,
        data=dict(row.data),
        updated_at=row.updated_at,
    )


_OPEN = callbacks.c.state.not_in(CALLBACK_CLOSED_STATES)


class CallbackRepository(Repository):
    """Callbacks; at most one open (not done/failed/cancelled) per number and queue."""

    async def request(
        self,
        number: str,
        queue_id: str,
        task_id: str,
        window_start: float,
        window_end: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[CallbackRecord, bool]:
        """Create a pending callback, or update the open one for this number and queue.

        Returns the row and whether it was created. An update keeps the original
        callback's id, task (and so its place in the queue), request time and attempts.
        """
        now = self._clock.now()
        changes = {
            "window_start": window_start,
            "window_end": window_end,
            "data": dict(data or {}),
            "updated_at": now,
        }
        for _ in range(3):
            try:
                async with self._engine.begin() as conn:
                    row = (
                        await conn.execute(
                            update(callbacks)
                            .where(
                                callbacks.c.number == number,
                                callbacks.c.queue_id == queue_id,
                                _OPEN,
                            )
                            .values(**changes)
                            .returning(*callbacks.c)
                        )
                    ).first()
                    if row is not None:
                        return _callback(row), False
                    values: dict[str, Any] = {
                        "id": new_id("cb_"),
                        "task_id": task_id,
                        "queue_id": queue_id,
                        "number": number,
                        "requested_at": now,
                        "attempts": 0,
                        "state": "pending",
                        "last_reason": None,
                        **changes,
                    }
                    await conn.execute(callbacks.insert().values(**values))
                    return CallbackRecord(**values), True
            except IntegrityError:
                # Another request for the same number and queue won the race: update it.
                continue
        raise Conflict(f"callback for {number} in queue {queue_id} is being changed; retry")

    async def record_attempt(
        self, callback_id: str, state: str, reason: str | None = None
    ) -> CallbackRecord:
        """Count one dialling attempt and set the resulting state and reason."""
        return await self._change(
            callback_id,
            {"attempts": callbacks.c.attempts + 1, "state": state, "last_reason": reason},
        )

    async def set_state(
        self, callback_id: str, state: str, reason: str | None = None
    ) -> CallbackRecord:
        return await self._change(callback_id, {"state": state, "last_reason": reason})

    _UPDATABLE = frozenset(
        {"state", "last_reason", "attempts", "window_start", "window_end", "data"}
    )

    async def update(self, callback_id: str, values: Mapping[str, Any]) -> CallbackRecord:
        """Change some of state, last_reason, attempts, window_start/end and data."""
        unknown = set(values) - self._UPDATABLE
        if unknown:
            raise ValueError(f"callback fields cannot be updated: {sorted(unknown)}")
        return await self._change(callback_id, dict(values))

    async def claim(
        self, callback_id: str, from_state: str, values: Mapping[str, Any]
    ) -> CallbackRecord | None:
        """Change the callback only if it is still in ``from_state`` (one winner when
        several processes race for it); None when another got there first."""
        unknown = set(values) - self._UPDATABLE
        if unknown:
            raise ValueError(f"callback fields cannot be updated: {sorted(unknown)}")
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    update(callbacks)
                    .where(callbacks.c.id == callback_id, callbacks.c.state == from_state)
                    .values(**values, updated_at=self._clock.now())
                    .returning(*callbacks.c)
                )
            ).first()
        return None if row is None else _callback(row)

    async def get_by_task(self, task_id: str) -> CallbackRecord | None:
        """The open callback whose routing task this is."""
        async with self._tx() as conn:
            row = (
                await conn.execute(select(callbacks).where(callbacks.c.task_id == task_id, _OPEN))
            ).first()
        return None if row is None else _callback(row)

    async def _change(self, callback_id: str, values: dict[str, Any]) -> CallbackRecord:
        async with self._tx("another open callback exists for this number and queue") as conn:
            row = (
                await conn.execute(
                    update(callbacks)
                    .where(callbacks.c.id == callback_id)
                    .values(**values, updated_at=self._clock.now())
                    .returning(*callbacks.c)
                )
            ).first()
        if row is None:
            raise NotFound(f"callback {callback_id} not found")
        return _callback(row)

    async def get(self, callback_id: str) -> CallbackRecord | None:
        async with self._tx() as conn:
            row = (
                await conn.execute(select(callbacks).where(callbacks.c.id == callback_id))
            ).first()
        return None if row is None else _callback(row)

    async def list_pending(
        self, queue_id: str | None = None, due_by: float | None = None
    ) -> list[CallbackRecord]:
        """Open callbacks, earliest window first (what to re-enqueue after a restart).

        ``due_by`` keeps only those whose window has started by then (scheduling).
        """
        query = select(callbacks).where(_OPEN).order_by(callbacks.c.window_start, callbacks.c.id)
        if queue_id is not None:
            query = query.where(callbacks.c.queue_id == queue_id)
        if due_by is not None:
            query = query.where(callbacks.c.window_start <= due_by)
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [_callback(r) for r in rows]
