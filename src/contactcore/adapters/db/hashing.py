"""Argon2 hashing of PINs and passwords (salted; parameters travel inside the hash)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(hashed: str, secret: str) -> bool:
    """True if ``secret`` matches; a malformed hash counts as no match."""
    try:
        return _hasher.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


async def hash_secret_async(secret: str) -> str:
    """``hash_secret`` off the event loop: argon2 takes about a quarter of a second."""
    return await asyncio.to_thread(hash_secret, secret)


async def verify_secret_async(hashed: str, secret: str) -> bool:
    return await asyncio.to_thread(verify_secret, hashed, secret)
