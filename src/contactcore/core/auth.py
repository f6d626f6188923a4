"""Ports of authentication, authorisation and the audit log.

The web layer authenticates people and writes the audit log through these; the SQL
adapter implements them and the composition root hands them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ROLES = ("agent", "supervisor", "admin")
SUPERVISORS = frozenset({"supervisor", "admin"})


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A person who can log in: an agent, a supervisor or an admin."""

    id: str
    username: str
    name: str
    role: str
    skills: dict[str, int] = field(default_factory=dict)
    capacities: dict[str, int] = field(default_factory=dict)
    # cross-channel rules: channel in hand -> channels it blocks (None: the default rule)
    blocks: dict[str, list[str]] | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """A browser session or a bearer token, found by the hash of its secret."""

    kind: str  # "session" or "token"
    member: StaffMember
    csrf_hash: str | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_id: str
    actor_role: str
    action: str
    target: str
    before: dict[str, Any]
    after: dict[str, Any]
    at: float


class StaffDirectory(Protocol):
    async def login_record(self, username: str) -> tuple[StaffMember, str | None] | None:
        """The person and their argon2 password hash (None: no password set)."""
        ...

    async def member(self, member_id: str) -> StaffMember | None: ...

    async def members(self) -> list[StaffMember]: ...

    async def set_skills(
        self,
        member_id: str,
        skills: Mapping[str, int],
        capacities: Mapping[str, int] | None,
        blocks: Mapping[str, Sequence[str]] | None = None,
    ) -> StaffMember:
        """Replace skills (and capacities, cross-channel rules when given) in one
        transaction."""
        ...

    async def set_queue_open(self, name: str, is_open: bool) -> None:
        """Keep the queue's open flag, so a restart does not undo a supervisor's switch."""
        ...


class CredentialStore(Protocol):
    async def add_credential(
        self,
        secret_hash: str,
        kind: str,
        member_id: str,
        csrf_hash: str | None,
        expires_at: float,
        label: str = "",
    ) -> None: ...

    async def credential(self, secret_hash: str, kind: str, now: float) -> Credential | None:
        """The live (unexpired) credential, or None."""
        ...

    async def revoke(self, secret_hash: str) -> bool: ...


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...

    async def recent(self, limit: int = 100) -> list[AuditEntry]: ...
