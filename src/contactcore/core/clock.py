"""Time as a port, so that the routing engine can run on a virtual clock in simulation."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall time, used in records and events)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()
