"""Identification and verification (ID&V) rules.

Identify: the caller's number, normalised to E.164, looked up among customers.
Verify: account number and PIN; PINs are kept only as salted argon2 hashes, and
repeated failures lock verification for the account in a store that survives a
restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from contactcore.core.clock import Clock
from contactcore.core.directory import CustomerDirectory, CustomerRecord, VerificationLockStore

log = logging.getLogger(__name__)

# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): about 40 ms of CPU per check
# here, against about 280 ms with the library's defaults. A 4-8 digit PIN gains
# little from a costlier hash; the account lock is what stops guessing. Stored
# hashes carry their own parameters, so hashes made with other settings still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Checked when the account does not exist, so that a wrong account costs the same
# time as a wrong PIN and timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-pin")


@dataclass(frozen=True)
class IdvPolicy:
    default_region: str = "GB"
    max_attempts: int = 3
    lock_seconds: float = 900.0


def normalise_e164(number: str | None, region: str) -> str | None:
    """The number in E.164, or None when it cannot be a phone number."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def hash_pin(pin: str) -> str:
    """A salted argon2 hash of a PIN, for storing in the customer directory."""
    return str(_hasher.hash(pin))


def pin_matches(stored_hash: str, pin: str) -> bool:
    try:
        return bool(_hasher.verify(stored_hash, pin))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class VerifyStatus(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"  # attempts remain
    LOCKED = "locked"  # this attempt locked the account, or it was already locked


@dataclass(frozen=True)
class VerifyOutcome:
    status: VerifyStatus
    customer: CustomerRecord | None = None
    attempts_left: int = 0
    locked_until: float | None = None


class IdentityChecker:
    """ID&V against the directory and lock store ports."""

    def __init__(
        self,
        directory: CustomerDirectory,
        locks: VerificationLockStore,
        clock: Clock,
        policy: IdvPolicy,
    ) -> None:
        self.directory = directory
        self.locks = locks
        self.clock = clock
        self.policy = policy

    async def identify(self, caller_number: str | None) -> tuple[str | None, CustomerRecord | None]:
        """(E.164 number, customer) for the caller's number; either may be None."""
        e164 = normalise_e164(caller_number, self.policy.default_region)
        if e164 is None:
            return None, None
        return e164, await self.directory.find_by_phone(e164)

    async def is_locked(self, account: str) -> float | None:
        """The lock's end when the account is locked now, else None."""
        lock = await self.locks.get(account)
        return lock.locked_until if lock.is_locked(self.clock.now()) else None

    async def verify(self, account: str, pin: str) -> VerifyOutcome:
        now = self.clock.now()
        lock = await self.locks.get(account)
        if lock.is_locked(now):
            return VerifyOutcome(VerifyStatus.LOCKED, locked_until=lock.locked_until)
        customer = await self.directory.find_by_account(account)
        stored = await self.directory.pin_hash(customer.id) if customer else None
        # argon2 is deliberately slow: keep it off the event loop.
        ok = await asyncio.to_thread(pin_matches, stored or _DUMMY_HASH, pin)
        if ok and stored is not None:
            if lock.failed_attempts:
                await self.locks.reset(account)
            return VerifyOutcome(VerifyStatus.VERIFIED, customer=customer)
        lock = await self.locks.record_failure(
            account, now, self.policy.max_attempts, self.policy.lock_seconds
        )
        if lock.is_locked(now):
            log.warning("verification locked for account %s until %s", account, lock.locked_until)
            return VerifyOutcome(VerifyStatus.LOCKED, locked_until=lock.locked_until)
        left = max(self.policy.max_attempts - lock.failed_attempts, 0)
        return VerifyOutcome(VerifyStatus.WRONG, attempts_left=left)
