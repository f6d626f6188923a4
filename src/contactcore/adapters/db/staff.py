"""Staff logins, sessions and bearer tokens, and the audit log (the core.auth ports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update

from contactcore.adapters.db._base import Repository
from contactcore.adapters.db.agents import AgentRepository, _check, _load, _replace_skills
from contactcore.adapters.db.records import AgentRecord
from contactcore.adapters.db.tables import agents, audit_log, auth_credentials, queues
from contactcore.core.auth import AuditEntry, Credential, StaffMember
from contactcore.errors import NotFound


def _member(record: AgentRecord) -> StaffMember:
    return StaffMember(
        id=record.id,
        username=record.username,
        name=record.name,
        role=record.role,
        skills=dict(record.skills),
        capacities=dict(record.capacities),
        blocks=record.blocks,
    )


class SqlStaffDirectory(Repository):
    """Implements ``StaffDirectory``, ``CredentialStore`` and ``AuditLog``."""

    @property
    def _agents(self) -> AgentRepository:
        return AgentRepository(self._engine, self._clock)

    # -- people ----------------------------------------------------------------------
    async def login_record(self, username: str) -> tuple[StaffMember, str | None] | None:
        found = await self._agents.credentials(username)
        return None if found is None else (_member(found[0]), found[1])

    async def member(self, member_id: str) -> StaffMember | None:
        record = await self._agents.get(member_id)
        return None if record is None else _member(record)

    async def members(self) -> list[StaffMember]:
        return [_member(r) for r in await self._agents.list()]

    async def set_skills(
        self,
        member_id: str,
        skills: Mapping[str, int],
        capacities: Mapping[str, int] | None,
        blocks: Mapping[str, Sequence[str]] | None = None,
    ) -> StaffMember:
        # One transaction: skills, capacities and rules change together or not at all.
        _check(None, skills)
        async with self._tx() as conn:
            locked = select(agents.c.id).where(agents.c.id == member_id).with_for_update()
            if await conn.scalar(locked) is None:
                raise NotFound(f"agent {member_id} not found", agent=member_id)
            await _replace_skills(conn, member_id, skills)
            values: dict[str, Any] = {}
            if capacities is not None:
                values["capacities"] = dict(capacities)
            if blocks is not None:
                values["blocks"] = {k: list(v) for k, v in blocks.items()}
            if values:
                await conn.execute(update(agents).where(agents.c.id == member_id).values(**values))
            record = await _load(conn, agents.c.id == member_id)
        assert record is not None
        return _member(record)

    async def set_queue_open(self, name: str, is_open: bool) -> None:
        async with self._tx() as conn:
            result = await conn.execute(
                update(queues).where(queues.c.name == name).values(open=is_open)
            )
        if result.rowcount == 0:
            raise NotFound(f"queue {name} not found", queue=name)

    # -- credentials ---------------------------------------------------------------------
    async def add_credential(
        self,
        secret_hash: str,
        kind: str,
        member_id: str,
        csrf_hash: str | None,
        expires_at: float,
        label: str = "",
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(
                auth_credentials.insert().values(
                    secret_hash=secret_hash,
                    kind=kind,
                    agent_id=member_id,
                    csrf_hash=csrf_hash,
                    label=label,
                    created_at=self._clock.now(),
                    expires_at=expires_at,
                )
            )

    async def credential(self, secret_hash: str, kind: str, now: float) -> Credential | None:
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    select(auth_credentials.c.agent_id, auth_credentials.c.csrf_hash)
                    .add_columns(auth_credentials.c.expires_at)
                    .join(agents, agents.c.id == auth_credentials.c.agent_id)
                    .where(
                        auth_credentials.c.secret_hash == secret_hash,
                        auth_credentials.c.kind == kind,
                        auth_credentials.c.expires_at > now,
                    )
                )
            ).first()
        if row is None:
            return None
        member = await self.member(row.agent_id)
        if member is None:
            return None
        return Credential(kind, member, row.csrf_hash, row.expires_at)

    async def revoke(self, secret_hash: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                delete(auth_credentials).where(auth_credentials.c.secret_hash == secret_hash)
            )
        return bool(result.rowcount)

    # -- audit ---------------------------------------------------------------------------
    async def record(self, entry: AuditEntry) -> None:
        async with self._tx() as conn:
            await conn.execute(
                audit_log.insert().values(
                    at=entry.at,
                    actor_id=entry.actor_id,
                    actor_role=entry.actor_role,
                    action=entry.action,
                    target=entry.target,
                    before=entry.before,
                    after=entry.after,
                )
            )

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        async with self._tx() as conn:
            rows = (
                await conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit))
            ).all()
        return [
            AuditEntry(
                actor_id=r.actor_id,
                actor_role=r.actor_role,
                action=r.action,
                target=r.target,
                before=dict(r.before),
                after=dict(r.after),
                at=r.at,
            )
            for r in rows
        ]
