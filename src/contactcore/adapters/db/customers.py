"""Customers, their phone numbers and PINs; the directory and verification locks of ID&V."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Double, and_, case, delete, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contactcore.adapters.db._base import Repository, dialect_insert
from contactcore.adapters.db.tables import customer_phones, customers, verification_locks
from contactcore.core.directory import CustomerRecord, VerificationLock
from contactcore.core.ids import new_id
from contactcore.errors import InvalidInput, NotFound

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def _check_e164(numbers: Iterable[str]) -> list[str]:
    out = list(numbers)
    for n in out:
        if not E164.match(n):
            raise InvalidInput(f"phone number {n!r} is not E.164 (e.g. +447700900123)")
    return out


class CustomerRepository(Repository):
    """Customer records; also the ``CustomerDirectory`` port used by ID&V."""

    async def create(
        self,
        name: str,
        tier: str = "b",
        phones: Sequence[str] = (),
        account_number: str | None = None,
        pin_hash: str | None = None,
    ) -> CustomerRecord:
        numbers = _check_e164(phones)
        customer_id = new_id("cu_")
        async with self._tx("customer account number or phone number already in use") as conn:
            await conn.execute(
                customers.insert().values(
                    id=customer_id,
                    name=name,
                    tier=tier,
                    account_number=account_number,
                    pin_hash=pin_hash,
                    created_at=self._clock.now(),
                )
            )
            if numbers:
                await conn.execute(
                    customer_phones.insert(),
                    [{"customer_id": customer_id, "e164": n} for n in numbers],
                )
        return CustomerRecord(
            id=customer_id,
            name=name,
            tier=tier,
            account_number=account_number,
            phones=tuple(numbers),
        )

    async def update(self, customer_id: str, *, name: str, tier: str) -> None:
        async with self._tx() as conn:
            result = await conn.execute(
                update(customers).where(customers.c.id == customer_id).values(name=name, tier=tier)
            )
            if result.rowcount == 0:
                raise NotFound(f"customer {customer_id} not found")

    async def set_phones(self, customer_id: str, phones: Sequence[str]) -> None:
        """Replace the customer's numbers with ``phones``."""
        numbers = _check_e164(phones)
        async with self._tx("phone number already belongs to another customer") as conn:
            locked = select(customers.c.id).where(customers.c.id == customer_id).with_for_update()
            if await conn.scalar(locked) is None:
                raise NotFound(f"customer {customer_id} not found")
            await conn.execute(
                delete(customer_phones).where(customer_phones.c.customer_id == customer_id)
            )
            if numbers:
                await conn.execute(
                    customer_phones.insert(),
                    [{"customer_id": customer_id, "e164": n} for n in numbers],
                )

    async def set_pin_hash(self, customer_id: str, pin_hash: str | None) -> None:
        async with self._tx() as conn:
            result = await conn.execute(
                update(customers).where(customers.c.id == customer_id).values(pin_hash=pin_hash)
            )
            if result.rowcount == 0:
                raise NotFound(f"customer {customer_id} not found")

    async def get(self, customer_id: str) -> CustomerRecord | None:
        async with self._tx() as conn:
            return await _load(conn, customers.c.id == customer_id)

    # -- CustomerDirectory --------------------------------------------------------------

    async def find_by_phone(self, e164: str) -> CustomerRecord | None:
        async with self._tx() as conn:
            owner = select(customer_phones.c.customer_id).where(customer_phones.c.e164 == e164)
            return await _load(conn, customers.c.id.in_(owner.scalar_subquery()))

    async def find_by_account(self, account_number: str) -> CustomerRecord | None:
        async with self._tx() as conn:
            return await _load(conn, customers.c.account_number == account_number)

    async def pin_hash(self, customer_id: str) -> str | None:
        async with self._tx() as conn:
            value: str | None = await conn.scalar(
                select(customers.c.pin_hash).where(customers.c.id == customer_id)
            )
            return value


async def _load(conn: AsyncConnection, where: Any) -> CustomerRecord | None:
    row = (await conn.execute(select(customers).where(where))).first()
    if row is None:
        return None
    phones = await conn.scalars(
        select(customer_phones.c.e164)
        .where(customer_phones.c.customer_id == row.id)
        .order_by(customer_phones.c.e164)
    )
    return CustomerRecord(
        id=row.id,
        name=row.name,
        tier=row.tier,
        account_number=row.account_number,
        phones=tuple(phones),
    )


class VerificationLockRepository(Repository):
    """Failed-PIN counters per account; a lock outlives restarts because it is in SQL."""

    async def get(self, account_number: str) -> VerificationLock:
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    select(verification_locks).where(
                        verification_locks.c.account_number == account_number
                    )
                )
            ).first()
        if row is None:
            return VerificationLock(account_number=account_number)
        return VerificationLock(
            account_number=account_number,
            failed_attempts=row.failed_attempts,
            locked_until=row.locked_until,
        )

    async def record_failure(
        self, account_number: str, now: float, max_attempts: int, lock_seconds: float
    ) -> VerificationLock:
        """Count one failure in a single INSERT ... ON CONFLICT DO UPDATE ... RETURNING.

        One statement is atomic on both backends (PostgreSQL's row lock, SQLite's
        write lock), so concurrent failures are each counted exactly once. An expired
        lock starts a fresh count; a failure while locked changes nothing.
        """
        t = verification_locks
        until: Any = literal(now + lock_seconds, Double())
        locked = and_(t.c.locked_until.is_not(None), t.c.locked_until > literal(now, Double()))
        expired = and_(t.c.locked_until.is_not(None), t.c.locked_until <= literal(now, Double()))
        count = case((expired, 1), else_=t.c.failed_attempts + 1)
        async with self._tx() as conn:
            ins: Any = dialect_insert(conn, t).values(
                account_number=account_number,
                failed_attempts=1,
                locked_until=now + lock_seconds if max_attempts <= 1 else None,
            )
            ins = ins.on_conflict_do_update(
                index_elements=[t.c.account_number],
                set_={
                    "failed_attempts": case((locked, t.c.failed_attempts), else_=count),
                    "locked_until": case(
                        (locked, t.c.locked_until),
                        (count >= max_attempts, until),
                        else_=null(),
                    ),
                },
            ).returning(t.c.failed_attempts, t.c.locked_until)
            row = (await conn.execute(ins)).one()
        return VerificationLock(
            account_number=account_number,
            failed_attempts=row.failed_attempts,
            locked_until=row.locked_until,
        )

    async def reset(self, account_number: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                delete(verification_locks).where(
                    verification_locks.c.account_number == account_number
                )
            )
