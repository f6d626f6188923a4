from contactcore.acd.model import TaskPosition
from contactcore.channels.voice_queue import VoiceQueueSettings, announcement, caller_id
from contactcore.core.directory import CustomerRecord
from contactcore.core.telephony import CallContext, Verification


def pos(position: int, ewt: float) -> TaskPosition:
    return TaskPosition(task_id="t", position=position, waited_s=0.0, ewt_s=ewt)


def test_next_in_line_with_a_short_wait() -> None:
    media = announcement(pos(1, 40), VoiceQueueSettings())
    assert media == [
        "sound:queue-youarenext",
        "sound:queue-holdtime",
        "sound:queue-less-than",
        "number:1",
        "sound:queue-minute",
    ]


def test_callers_ahead_and_minutes_rounded() -> None:
    media = announcement(pos(4, 150), VoiceQueueSettings())
    assert media[:3] == ["sound:queue-thereare", "number:3", "sound:queue-callswaiting"]
    assert media[3:] == ["sound:queue-holdtime", "number:2", "sound:queue-minutes"]


def test_announcements_can_be_switched_off_per_kind() -> None:
    only_wait = VoiceQueueSettings(announce_position=False)
    assert announcement(pos(3, 60), only_wait) == [
        "sound:queue-holdtime",
        "number:1",
        "sound:queue-minute",
    ]
    silent = VoiceQueueSettings(announce_position=False, announce_wait=False)
    assert announcement(pos(3, 600), silent) == []


def test_agent_sees_name_and_verification() -> None:
    ctx = CallContext(
        caller_number="+12025550101",
        customer=CustomerRecord(id="c1", name='Victoria "V" Hale', tier="vip"),
        verification=Verification.VERIFIED,
    )
    assert caller_id(ctx) == "\"Victoria 'V' Hale (verified)\" <+12025550101>"
    assert caller_id(CallContext()) == '"Unknown caller (unverified)" <anonymous>'
