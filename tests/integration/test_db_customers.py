"""Customers, the directory port and verification locks, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contactcore.adapters.db import Database, open_database, upgrade
from contactcore.adapters.db.hashing import hash_secret, verify_secret
from contactcore.core.directory import CustomerDirectory, VerificationLockStore
from contactcore.errors import Conflict, InvalidInput, NotFound

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_directory_lookups(db: Database) -> None:
    directory: CustomerDirectory = db.customers
    created = await db.customers.create(
        "Victoria Hale",
        tier="vip",
        phones=["+447700900001", "+447700900011"],
        account_number="10000001",
        pin_hash=hash_secret("2468"),
    )
    by_phone = await directory.find_by_phone("+447700900011")
    assert by_phone == created
    assert by_phone is not None
    assert by_phone.tier == "vip"
    assert by_phone.phones == ("+447700900001", "+447700900011")
    assert await directory.find_by_account("10000001") == created
    stored = await directory.pin_hash(created.id)
    assert stored is not None
    assert verify_secret(stored, "2468")
    assert not verify_secret(stored, "2469")
    assert await directory.find_by_phone("+447700900999") is None
    assert await directory.find_by_account("99999999") is None
    assert await directory.pin_hash("cu_missing") is None


async def test_customer_without_account_or_pin(db: Database) -> None:
    c = await db.customers.create("Walk In", phones=["+15550100"])
    assert c.account_number is None
    assert c.tier == "b"
    assert await db.customers.pin_hash(c.id) is None
    assert await db.customers.get(c.id) == c


async def test_constraint_violations_raise_our_errors(db: Database) -> None:
    first = await db.customers.create("A", phones=["+447700900002"], account_number="1")
    with pytest.raises(Conflict):
        await db.customers.create("B", phones=["+447700900002"])
    with pytest.raises(Conflict):
        await db.customers.create("C", account_number="1")
    with pytest.raises(InvalidInput, match=r"E\.164"):
        await db.customers.create("D", phones=["07700 900003"])
    # The failed creates left nothing half-written behind.
    assert await db.customers.find_by_account("1") == first
    with pytest.raises(NotFound):
        await db.customers.set_pin_hash("cu_missing", "x")


async def test_update_and_replace_phones(db: Database) -> None:
    c = await db.customers.create("Arthur", tier="b", phones=["+447700900004"])
    await db.customers.update(c.id, name="Arthur Dent", tier="a")
    await db.customers.set_phones(c.id, ["+447700900005", "+447700900006"])
    assert await db.customers.find_by_phone("+447700900004") is None
    found = await db.customers.find_by_phone("+447700900006")
    assert found is not None
    assert (found.name, found.tier, found.phones) == (
        "Arthur Dent",
        "a",
        ("+447700900005", "+447700900006"),
    )


async def test_lock_counts_locks_and_expires(db: Database) -> None:
    locks: VerificationLockStore = db.locks
    assert (await locks.get("10000002")).failed_attempts == 0
    now = 1_800_000_000.0
    one = await locks.record_failure("10000002", now, max_attempts=3, lock_seconds=900)
    two = await locks.record_failure("10000002", now + 1, max_attempts=3, lock_seconds=900)
    assert (one.failed_attempts, one.locked_until) == (1, None)
    assert (two.failed_attempts, two.locked_until) == (2, None)
    three = await locks.record_failure("10000002", now + 2, max_attempts=3, lock_seconds=900)
    assert three.failed_attempts == 3
    assert three.locked_until == pytest.approx(now + 902)
    assert three.is_locked(now + 100)
    # The lock is what a restarted process reads back.
    assert await locks.get("10000002") == three
    # A failure while locked neither counts nor extends the lock.
    during = await locks.record_failure("10000002", now + 10, max_attempts=3, lock_seconds=900)
    assert during == three
    # After expiry the count starts again.
    after = await locks.record_failure("10000002", now + 903, max_attempts=3, lock_seconds=900)
    assert (after.failed_attempts, after.locked_until) == (1, None)
    assert not after.is_locked(now + 903)
    await locks.reset("10000002")
    assert await locks.get("10000002") == type(after)(account_number="10000002")


async def test_concurrent_failures_count_exactly(database_url: str, db: Database) -> None:
    """Two independent engines (as two processes) hammer one account at once."""
    other = await open_database(database_url)
    try:
        n = 30
        results = await asyncio.gather(
            *(
                (db if i % 2 else other).locks.record_failure(
                    "10000003", 1_800_000_000.0 + i, max_attempts=n, lock_seconds=60
                )
                for i in range(n)
            )
        )
    finally:
        await other.close()
    assert sorted(r.failed_attempts for r in results) == list(range(1, n + 1))
    final = await db.locks.get("10000003")
    assert final.failed_attempts == n
    assert final.locked_until is not None
    assert sum(r.locked_until is not None for r in results) == 1
