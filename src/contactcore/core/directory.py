"""Ports for knowing who is calling: the customer directory and verification locks.

Implemented in SQL by ``adapters/db``; used by ID&V in ``ivr``. A lock must survive
a restart, which is why it lives behind a store and not in memory.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict


class CustomerRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    tier: str  # e.g. "vip", "a", "b"
    account_number: str | None = None
    phones: tuple[str, ...] = ()  # E.164


class VerificationLock(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_number: str
    failed_attempts: int = 0
    locked_until: float | None = None  # epoch seconds; None = not locked

    def is_locked(self, now: float) -> bool:
        return self.locked_until is not None and now < self.locked_until


class CustomerDirectory(Protocol):
    async def find_by_phone(self, e164: str) -> CustomerRecord | None: ...

    async def find_by_account(self, account_number: str) -> CustomerRecord | None: ...

    async def pin_hash(self, customer_id: str) -> str | None:
        """The stored argon2 hash of the customer's PIN, or None if they have none."""
        ...


class VerificationLockStore(Protocol):
    async def get(self, account_number: str) -> VerificationLock: ...

    async def record_failure(
        self, account_number: str, now: float, max_attempts: int, lock_seconds: float
    ) -> VerificationLock:
        """Count one failed attempt atomically; lock when it reaches max_attempts."""
        ...

    async def reset(self, account_number: str) -> None: ...
