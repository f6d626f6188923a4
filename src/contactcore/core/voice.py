"""Call-control ports: what the voice channel needs from a telephony engine.

Implemented over ARI by ``adapters/ari``; the voice channel and the IVR only see
these. A leg is one Asterisk channel; a hang-up surfaces as :class:`LegHungUp`
from whatever the owner is awaiting on that leg.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contactcore.errors import ContactcoreError


class LegHungUp(ContactcoreError):
    """The leg is gone (hung up, or destroyed by the telephony engine)."""

    error_id = "voice.leg_hung_up"


class TelephonyUnavailable(ContactcoreError):
    error_id = "voice.telephony_unavailable"


@dataclass(frozen=True, slots=True)
class PlayResult:
    """How a playback ended: completed, or interrupted by ``digit``."""

    completed: bool
    digit: str | None = None


class Leg(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def caller_number(self) -> str: ...

    @property
    def caller_name(self) -> str: ...

    @property
    def called_number(self) -> str: ...

    @property
    def hung_up(self) -> bool: ...

    async def answer(self) -> None: ...

    async def hangup(self, reason: str = "normal") -> None: ...

    async def play(self, media: Sequence[str], *, interrupt_on_dtmf: bool = False) -> PlayResult:
        """Play media in order; with ``interrupt_on_dtmf`` a key stops it and is returned."""
        ...

    async def get_digits(
        self,
        *,
        max_digits: int,
        first_timeout: float,
        inter_timeout: float,
        terminator: str | None = "#",
        initial: str = "",
    ) -> str:
        """Collect DTMF; returns what was typed (possibly empty) when a limit is reached."""
        ...

    async def start_moh(self, moh_class: str = "default") -> None: ...

    async def stop_moh(self) -> None: ...

    async def wait_hangup(self) -> None:
        """Return when the leg hangs up (for racing with other waits)."""
        ...


CallHandler = Callable[[Leg], Awaitable[None]]


class Telephony(Protocol):
    def set_call_handler(self, handler: CallHandler | None) -> None:
        """Every new inbound leg is passed to ``handler`` in a task of its own."""
        ...

    @property
    def connected(self) -> bool: ...

    async def originate(
        self,
        endpoint: str,
        *,
        caller_id: str,
        timeout: float,
        variables: dict[str, str] | None = None,
    ) -> Leg:
        """Dial ``endpoint``; returns when it answers (raises LegHungUp if it does not)."""
        ...

    async def bridge(self, legs: Sequence[Leg]) -> str:
        """Put the legs in a new mixing bridge; returns its id."""
        ...

    async def destroy_bridge(self, bridge_id: str) -> None: ...
