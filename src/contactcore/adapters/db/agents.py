"""Agents (with skills and desktop credentials) and their logged-in sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contactcore.adapters.db._base import Repository, upsert
from contactcore.adapters.db.records import AgentRecord, AgentSessionRecord
from contactcore.adapters.db.tables import ROLES, agent_sessions, agent_skills, agents, skills
from contactcore.core.ids import new_id
from contactcore.errors import InvalidInput, NotFound


def _check(role: str | None, skill_levels: Mapping[str, int] | None) -> None:
    if role is not None and role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    for name, level in (skill_levels or {}).items():
        if not 1 <= level <= 10:
            raise InvalidInput(f"skill {name!r}: level {level} is not between 1 and 10")


class AgentRepository(Repository):
    async def create(
        self,
        name: str,
        username: str,
        sip_endpoint: str | None = None,
        role: str = "agent",
        capacities: Mapping[str, int] | None = None,
        skills: Mapping[str, int] | None = None,
        password_hash: str | None = None,
    ) -> AgentRecord:
        """A new agent; ``skills`` maps existing skill names to levels 1..10."""
        _check(role, skills)
        agent_id = new_id("ag_")
        async with self._tx("username or SIP endpoint already in use") as conn:
            await conn.execute(
                agents.insert().values(
                    id=agent_id,
                    name=name,
                    username=username,
                    sip_endpoint=sip_endpoint,
                    role=role,
                    capacities=dict(capacities or {}),
                    password_hash=password_hash,
                    created_at=self._clock.now(),
                )
            )
            await _replace_skills(conn, agent_id, skills or {})
            record = await _load(conn, agents.c.id == agent_id)
        assert record is not None
        return record

    async def update(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        sip_endpoint: str | None = None,
        role: str | None = None,
        capacities: Mapping[str, int] | None = None,
        blocks: Mapping[str, Sequence[str]] | None = None,
    ) -> AgentRecord:
        """Change the given fields; return the new row."""
        _check(role, None)
        values: dict[str, Any] = {
            k: v
            for k, v in {"name": name, "sip_endpoint": sip_endpoint, "role": role}.items()
            if v is not None
        }
        if capacities is not None:
            values["capacities"] = dict(capacities)
        if blocks is not None:
            values["blocks"] = {k: list(v) for k, v in blocks.items()}
        async with self._tx("SIP endpoint already in use") as conn:
            if values:
                await conn.execute(update(agents).where(agents.c.id == agent_id).values(**values))
            record = await _load(conn, agents.c.id == agent_id)
        if record is None:
            raise NotFound(f"agent {agent_id} not found")
        return record

    async def set_skills(self, agent_id: str, skill_levels: Mapping[str, int]) -> AgentRecord:
        """Replace the agent's skills with ``skill_levels`` (skill name -> level)."""
        _check(None, skill_levels)
        async with self._tx() as conn:
            # FOR UPDATE serialises concurrent replacements on PostgreSQL; SQLite
            # serialises them at the first write.
            locked = select(agents.c.id).where(agents.c.id == agent_id).with_for_update()
            if await conn.scalar(locked) is None:
                raise NotFound(f"agent {agent_id} not found")
            await _replace_skills(conn, agent_id, skill_levels)
            record = await _load(conn, agents.c.id == agent_id)
        assert record is not None
        return record

    async def set_password_hash(self, agent_id: str, password_hash: str | None) -> None:
        async with self._tx() as conn:
            result = await conn.execute(
                update(agents).where(agents.c.id == agent_id).values(password_hash=password_hash)
            )
            if result.rowcount == 0:
                raise NotFound(f"agent {agent_id} not found")

    async def credentials(self, username: str) -> tuple[AgentRecord, str | None] | None:
        """The agent and its stored password hash, for a desktop login."""
        async with self._tx() as conn:
            record = await _load(conn, agents.c.username == username)
            if record is None:
                return None
            hashed: str | None = await conn.scalar(
                select(agents.c.password_hash).where(agents.c.id == record.id)
            )
        return record, hashed

    async def get(self, agent_id: str) -> AgentRecord | None:
        async with self._tx() as conn:
            return await _load(conn, agents.c.id == agent_id)

    async def get_by_username(self, username: str) -> AgentRecord | None:
        async with self._tx() as conn:
            return await _load(conn, agents.c.username == username)

    async def get_by_endpoint(self, sip_endpoint: str) -> AgentRecord | None:
        async with self._tx() as conn:
            return await _load(conn, agents.c.sip_endpoint == sip_endpoint)

    async def list(self) -> list[AgentRecord]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(agents).order_by(agents.c.username))).all()
            levels = await _skill_levels(conn, None)
        return [_agent(r, levels.get(r.id, {})) for r in rows]


async def _replace_skills(
    conn: AsyncConnection, agent_id: str, skill_levels: Mapping[str, int]
) -> None:
    await conn.execute(delete(agent_skills).where(agent_skills.c.agent_id == agent_id))
    if not skill_levels:
        return
    found = dict(
        (
            await conn.execute(
                select(skills.c.name, skills.c.id).where(skills.c.name.in_(list(skill_levels)))
            )
        ).all()
    )
    missing = sorted(set(skill_levels) - set(found))
    if missing:
        raise NotFound(f"unknown skill(s): {', '.join(missing)}; create them first")
    await conn.execute(
        agent_skills.insert(),
        [
            {"agent_id": agent_id, "skill_id": found[name], "level": level}
            for name, level in skill_levels.items()
        ],
    )


async def _skill_levels(conn: AsyncConnection, agent_id: str | None) -> dict[str, dict[str, int]]:
    query = select(agent_skills.c.agent_id, skills.c.name, agent_skills.c.level).join(
        skills, skills.c.id == agent_skills.c.skill_id
    )
    if agent_id is not None:
        query = query.where(agent_skills.c.agent_id == agent_id)
    out: dict[str, dict[str, int]] = {}
    for aid, name, level in (await conn.execute(query)).all():
        out.setdefault(aid, {})[name] = level
    return out


def _agent(row: Row[Any], skill_levels: dict[str, int]) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        name=row.name,
        username=row.username,
        sip_endpoint=row.sip_endpoint,
        role=row.role,
        capacities=dict(row.capacities),
        skills=dict(sorted(skill_levels.items())),
        created_at=row.created_at,
        blocks=None if row.blocks is None else {k: list(v) for k, v in row.blocks.items()},
    )


async def _load(conn: AsyncConnection, where: Any) -> AgentRecord | None:
    row = (await conn.execute(select(agents).where(where))).first()
    if row is None:
        return None
    return _agent(row, (await _skill_levels(conn, row.id)).get(row.id, {}))


class AgentSessionRepository(Repository):
    """Logged-in agents and their presence: what must outlive a Redis restart."""

    async def upsert(
        self,
        agent_id: str,
        presence: str,
        reason: str | None = None,
        updated_at: float | None = None,
    ) -> AgentSessionRecord:
        record = AgentSessionRecord(
            agent_id=agent_id,
            presence=presence,
            reason=reason,
            updated_at=self._clock.now() if updated_at is None else updated_at,
        )
        async with self._tx(f"agent {agent_id} does not exist") as conn:
            await conn.execute(
                upsert(
                    conn,
                    agent_sessions,
                    {
                        "agent_id": agent_id,
                        "presence": presence,
                        "reason": reason,
                        "updated_at": record.updated_at,
                    },
                    ["agent_id"],
                )
            )
        return record

    async def delete(self, agent_id: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                delete(agent_sessions).where(agent_sessions.c.agent_id == agent_id)
            )
        return bool(result.rowcount)

    async def list(self) -> list[AgentSessionRecord]:
        async with self._tx() as conn:
            rows = (
                await conn.execute(select(agent_sessions).order_by(agent_sessions.c.agent_id))
            ).all()
        return [
            AgentSessionRecord(
                agent_id=r.agent_id, presence=r.presence, reason=r.reason, updated_at=r.updated_at
            )
            for r in rows
        ]
