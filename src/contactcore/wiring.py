"""Maps stored configuration to what the capabilities take (used by the composition root)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from contactcore.acd.model import QueueConfig, RelaxationStep
from contactcore.acd.service import RoutingService
from contactcore.adapters.db.records import QueueRecord
from contactcore.callback.model import CallbackPolicy
from contactcore.callback.ports import AgentPhone, CallbackStore
from contactcore.callback.service import CallbackConfig, CallbackService
from contactcore.channels.callback_routing import AcdCallbackRouting
from contactcore.channels.voice_queue import VoiceQueueSettings
from contactcore.core.clock import Clock
from contactcore.core.ports import InteractionRecorder
from contactcore.core.voice import Telephony
from contactcore.ivr.model import Hours
from contactcore.ivr.rules import is_open
from contactcore.settings import CallbackSettings

# stored queue settings in seconds -> the routing engine's QueueConfig field
_SECONDS = {
    "offer_timeout_seconds": "offer_timeout_s",
    "reoffer_after_seconds": "reoffer_after_s",
    "wrap_up_seconds": "wrapup_s",
    "aging_seconds_per_point": "aging_s_per_point",
}


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
    for key, field in _SECONDS.items():
        if key in c:
            fields[field] = float(c[key])
    if "service_level" in c:
        fields["service_level_s"] = float(c["service_level"]["seconds"])
    if c.get("max_wait_seconds"):
        fields["max_wait_s"] = float(c["max_wait_seconds"])
    if "max_wait_action" in c:
        fields["max_wait_action"] = c["max_wait_action"]
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


def callback_policy(record: QueueRecord, defaults: CallbackPolicy) -> CallbackPolicy:
    """The settings' callback policy with the queue's ``callback`` config over it; a queue
    whose config says ``callback: false`` (or lacks the callback channel) takes none."""
    c: dict[str, Any] = record.config
    own = c.get("callback", {})
    channels = c.get("channels")
    if own is False or (channels is not None and "callback" not in channels):
        return CallbackPolicy(enabled=False)
    own = own or {}
    return CallbackPolicy(
        enabled=bool(own.get("enabled", defaults.enabled)),
        offer_above_ewt_s=float(own.get("offer_above_ewt_seconds", defaults.offer_above_ewt_s)),
        max_attempts=int(own.get("max_attempts", defaults.max_attempts)),
        retry_s=float(own.get("retry_seconds", defaults.retry_s)),
    )


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def business_hours(record: QueueRecord) -> Hours | None:
    """A queue's business hours as the IVR's ``Hours`` (None: always open).

    The queue config holds ``hours: {mon: [["08:00", "18:00"]], ...}`` (a day left out
    or with no windows is closed) and ``holidays: ["2026-12-25", ...]`` in the queue's
    time zone; the same rule as the flows' ``open`` conditions decides.
    """
    c: dict[str, Any] = record.config
    hours = c.get("hours")
    if not hours:
        return None
    weekly: dict[str, str | list[str]] = {}
    for day in _DAY_NAMES:
        windows = [f"{start}-{end}" for start, end in hours.get(day) or []]
        weekly[day] = windows or "closed"
    return Hours(
        timezone=record.timezone,
        weekly=weekly,
        closed_dates=tuple(date.fromisoformat(str(d)) for d in c.get("holidays") or []),
    )


def queue_is_open(hours: Mapping[str, Hours | None]) -> Callable[[str, float], bool]:
    """Whether a queue is inside its business hours at a time (unknown queue: no)."""

    def check(queue: str, at: float) -> bool:
        if queue not in hours:
            return False
        h = hours[queue]
        return h is None or is_open(h, at)

    return check


def callback_service(
    cb: CallbackSettings,
    region: str,
    records: Sequence[QueueRecord],
    store: CallbackStore,
    routing: RoutingService,
    telephony: Telephony,
    recorder: InteractionRecorder,
    clock: Clock,
    agent_phone: AgentPhone,
) -> CallbackService:
    """Callbacks with each queue's policy, business hours and offer timeout."""
    default = CallbackPolicy(
        enabled=cb.enabled,
        offer_above_ewt_s=cb.offer_above_ewt_seconds,
        max_attempts=cb.max_attempts,
        retry_s=cb.retry_seconds,
    )
    off = CallbackPolicy(enabled=False)
    policies = {r.name: callback_policy(r, default) if cb.enabled else off for r in records}
    offer_timeouts = {r.name: acd_queue(r).offer_timeout_s for r in records}
    return CallbackService(
        store,
        AcdCallbackRouting(routing),
        telephony,
        recorder,
        clock,
        CallbackConfig(
            region=region,
            caller_id=cb.caller_id,
            dial_string=cb.dial_string,
            agent_ring_s=cb.agent_ring_seconds,
            customer_ring_s=cb.customer_ring_seconds,
            confirm_key=cb.confirm_key,
            confirm_timeout_s=cb.confirm_timeout_seconds,
            skip_wrapup_after_failure=cb.skip_wrapup_after_failure,
            poll_s=cb.poll_seconds,
        ),
        policies.get,
        queue_is_open({r.name: business_hours(r) for r in records}),
        agent_phone,
        lambda queue: offer_timeouts.get(queue, 20.0),
    )
