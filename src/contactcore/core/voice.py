"""Call-control ports: what the voice channel needs from a telephony engine.

A :class:`Leg` is one Asterisk channel. It is a :class:`CallSession` (what the IVR
needs) plus what queueing and agent connect need (answer, music on hold, waiting
for a hang-up). A hang-up surfaces as :class:`CallerHungUp` from whatever the owner
is awaiting on that leg. Implemented over ARI by ``adapters/ari``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from contactcore.core.telephony import CallerHungUp, CallSession
from contactcore.errors import ContactcoreError

__all__ = ["CallHandler", "CallerHungUp", "Leg", "RecordingFailed", "Telephony"]


class RecordingFailed(ContactcoreError):
    """The telephony engine would not record (e.g. no recording directory); the call goes on."""

    error_id = "call.recording_failed"


class Leg(CallSession, Protocol):
    @property
    def caller_name(self) -> str: ...

    @property
    def hung_up(self) -> bool: ...

    async def answer(self) -> None: ...

    async def hangup(self, reason: str = "normal") -> None: ...

    async def start_moh(self, moh_class: str = "default") -> None: ...

    async def stop_moh(self) -> None: ...

    async def wait_hangup(self) -> None:
        """Return when the leg hangs up (for racing with other waits)."""
        ...

    async def wait_transfer(self) -> str:
        """Return the destination of the next transfer this leg's phone asks for (SIP
        REFER; the Refer-To user part, "" for an attended transfer). Never returns for a
        leg that asks none."""
        ...

    async def transfer_progress(self, accepted: bool) -> None:
        """Tell the phone how its transfer request ended (accepted: it may hang up)."""
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
        """Dial ``endpoint``; returns when it answers (raises CallerHungUp if it does not)."""
        ...

    async def bridge(self, legs: Sequence[Leg]) -> str:
        """Put the legs in a new mixing bridge; returns its id."""
        ...

    async def destroy_bridge(self, bridge_id: str) -> None: ...

    async def record_bridge(self, bridge_id: str, name: str) -> str:
        """Record the bridge's mixed audio as ``name``; returns the file name (``name.wav``).

        Raises RecordingFailed when the engine refuses.
        """
        ...

    async def stop_recording(self, name: str, timeout: float) -> float | None:
        """Stop recording ``name`` (if still running) and wait up to ``timeout`` for the
        file to be complete; returns its duration in seconds, or None if it never finished."""
        ...
