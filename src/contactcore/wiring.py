"""Maps stored configuration to what the capabilities take (used by the composition root)."""

from __future__ import annotations

from typing import Any

from contactcore.acd.model import QueueConfig, RelaxationStep
from contactcore.adapters.db.records import QueueRecord
from contactcore.channels.voice_queue import VoiceQueueSettings


def acd_queue(record: QueueRecord) -> QueueConfig:
    """A queue row as the routing engine sees it; the queue's name is its routing id."""
    c: dict[str, Any] = record.config
    steps = [
        RelaxationStep(after_s=float(s["after_seconds"]), min_level=s.get("min_level"))
        for s in c.get("relaxation", [])
    ]
    overflow = c.get("overflow")
    if overflow:
        steps.append(
            RelaxationStep(after_s=float(overflow["after_seconds"]), overflow_to=overflow["queue"])
        )
    fields: dict[str, Any] = {
        "id": record.name,
        "open": record.open,
        "skills": c.get("skills", {}),
        "relaxation": tuple(steps),
    }
    if "channels" in c:
        fields["channels"] = tuple(c["channels"])
    if "strategy" in c:
        fields["strategy"] = c["strategy"]
    if "offer_timeout_seconds" in c:
        fields["offer_timeout_s"] = float(c["offer_timeout_seconds"])
    if "wrap_up_seconds" in c:
        fields["wrapup_s"] = float(c["wrap_up_seconds"])
    if "service_level" in c:
        fields["service_level_s"] = float(c["service_level"]["seconds"])
    if c.get("max_wait_seconds"):
        fields["max_wait_s"] = float(c["max_wait_seconds"])
    return QueueConfig(**fields)


def voice_settings(record: QueueRecord) -> VoiceQueueSettings:
    c: dict[str, Any] = record.config
    announce = c.get("announce") or {}
    return VoiceQueueSettings(
        moh_class=c.get("moh_class", "default"),
        announce_position=bool(announce.get("position", True)),
        announce_wait=bool(announce.get("wait_time", True)),
        announce_every_s=float(announce.get("every_seconds", 30)),
        offer_timeout_s=float(c.get("offer_timeout_seconds", 15)),
        record=bool(c.get("recording", False)),
    )
