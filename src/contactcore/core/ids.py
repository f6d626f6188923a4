"""Identifiers. Sortable by creation time so that logs and streams read in order."""

from __future__ import annotations

import os
import time


def new_id(prefix: str = "") -> str:
    """A 26-character, time-ordered, URL-safe id (ULID-like), optionally prefixed."""
    millis = int(time.time() * 1000)
    raw = millis.to_bytes(6, "big") + os.urandom(10)
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    number = int.from_bytes(raw, "big")
    chars = []
    for _ in range(26):
        number, rem = divmod(number, 32)
        chars.append(alphabet[rem])
    return prefix + "".join(reversed(chars))
