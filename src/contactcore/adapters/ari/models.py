"""Typed ARI events and objects.

Only the fields we use are typed; the raw dict stays on every event for the rest.
Parsing is a dict lookup per field, so it stays cheap on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller_number: str = ""
    caller_name: str = ""
    exten: str = ""
    context: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        caller = data.get("caller") or {}
        plan = data.get("dialplan") or {}
        return cls(
            id=data.get("id", ""),
            name=data.get("name", ""),
            state=data.get("state", ""),
            caller_number=caller.get("number", ""),
            caller_name=caller.get("name", ""),
            exten=plan.get("exten", ""),
            context=plan.get("context", ""),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Playback:
        return cls(
            id=data.get("id", ""),
            media_uri=data.get("media_uri", ""),
            target_uri=data.get("target_uri", ""),
            state=data.get("state", ""),
        )

    @property
    def channel_id(self) -> str | None:
        kind, _, ident = self.target_uri.partition(":")
        return ident if kind == "channel" else None


@dataclass(frozen=True, slots=True)
class AriEvent:
    """Any event; ``channel_id`` is the leg it concerns, if any (used for dispatch)."""

    type: str
    raw: dict[str, Any] = field(repr=False)
    channel: Channel | None = None
    playback: Playback | None = None

    @property
    def channel_id(self) -> str | None:
        if self.channel is not None:
            return self.channel.id
        if self.playback is not None:
            return self.playback.channel_id
        if self.type == "ChannelTransfer":  # the leg whose phone sent the REFER
            source = (self.raw.get("referred_by") or {}).get("source_channel") or {}
            value = source.get("id")
            return value if isinstance(value, str) else None
        return None

    @property
    def transfer_destination(self) -> str | None:
        """A blind transfer's destination (the Refer-To user part); None for attended."""
        wanted = (self.raw.get("refer_to") or {}).get("requested_destination") or {}
        value = wanted.get("destination")
        return value if isinstance(value, str) and value else None

    @property
    def digit(self) -> str | None:
        value = self.raw.get("digit")
        return value if isinstance(value, str) else None

    @property
    def args(self) -> list[str]:
        value = self.raw.get("args")
        return list(value) if isinstance(value, list) else []

    @property
    def cause(self) -> int | None:
        value = self.raw.get("cause")
        return value if isinstance(value, int) else None


HANGUP_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})


def parse_event(data: dict[str, Any]) -> AriEvent:
    channel = data.get("channel")
    playback = data.get("playback")
    return AriEvent(
        type=str(data.get("type", "")),
        raw=data,
        channel=Channel.from_json(channel) if isinstance(channel, dict) else None,
        playback=Playback.from_json(playback) if isinstance(playback, dict) else None,
    )
