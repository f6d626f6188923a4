"""Skills and queues: the routing configuration that the ACD loads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, select, update

from contactcore.adapters.db._base import Repository, insert_ignore
from contactcore.adapters.db.records import QueueRecord, SkillRecord
from contactcore.adapters.db.tables import queues, skills
from contactcore.core.ids import new_id
from contactcore.errors import NotFound


class SkillRepository(Repository):
    async def create(self, name: str) -> SkillRecord:
        record = SkillRecord(id=new_id("sk_"), name=name)
        async with self._tx(f"skill {name!r} already exists") as conn:
            await conn.execute(skills.insert().values(id=record.id, name=name))
        return record

    async def ensure(self, name: str) -> SkillRecord:
        """The skill called ``name``, created if missing (safe under concurrency)."""
        async with self._tx() as conn:
            await conn.execute(
                insert_ignore(conn, skills, {"id": new_id("sk_"), "name": name}, ["name"])
            )
            row = (await conn.execute(select(skills).where(skills.c.name == name))).one()
        return SkillRecord(id=row.id, name=row.name)

    async def get_by_name(self, name: str) -> SkillRecord | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(skills).where(skills.c.name == name))).first()
        return None if row is None else SkillRecord(id=row.id, name=row.name)

    async def list(self) -> list[SkillRecord]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(skills).order_by(skills.c.name))).all()
        return [SkillRecord(id=r.id, name=r.name) for r in rows]


def _queue(row: Row[Any]) -> QueueRecord:
    return QueueRecord(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        config=dict(row.config),
        open=bool(row.open),
    )


class QueueRepository(Repository):
    async def create(
        self,
        name: str,
        timezone: str = "UTC",
        config: Mapping[str, Any] | None = None,
        open: bool = True,
    ) -> QueueRecord:
        record = QueueRecord(
            id=new_id("q_"), name=name, timezone=timezone, config=dict(config or {}), open=open
        )
        async with self._tx(f"queue {name!r} already exists") as conn:
            await conn.execute(
                queues.insert().values(
                    id=record.id, name=name, timezone=timezone, config=record.config, open=open
                )
            )
        return record

    async def update(
        self,
        queue_id: str,
        *,
        timezone: str | None = None,
        config: Mapping[str, Any] | None = None,
        open: bool | None = None,
    ) -> QueueRecord:
        """Change the given fields (config is replaced whole); return the new row."""
        values: dict[str, Any] = {}
        if timezone is not None:
            values["timezone"] = timezone
        if config is not None:
            values["config"] = dict(config)
        if open is not None:
            values["open"] = open
        async with self._tx() as conn:
            if values:
                await conn.execute(update(queues).where(queues.c.id == queue_id).values(**values))
            row = (await conn.execute(select(queues).where(queues.c.id == queue_id))).first()
        if row is None:
            raise NotFound(f"queue {queue_id} not found")
        return _queue(row)

    async def get(self, queue_id: str) -> QueueRecord | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(queues).where(queues.c.id == queue_id))).first()
        return None if row is None else _queue(row)

    async def get_by_name(self, name: str) -> QueueRecord | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(queues).where(queues.c.name == name))).first()
        return None if row is None else _queue(row)

    async def list(self) -> list[QueueRecord]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(queues).order_by(queues.c.name))).all()
        return [_queue(r) for r in rows]
