"""Time as a port, so that the routing engine can run on a virtual clock in simulation."""

from __future__ import annotations

import time
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall time, used in records and events)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def known_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone here, else a ValueError that says what to use
    (for the validators of settings and call flows)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: no IANA time zone has this name "
            "(e.g. UTC, Europe/London, America/New_York)"
        ) from None
    return name
