"""A stored queue's configuration as the routing engine takes it."""

from __future__ import annotations

from contactcore.acd.model import MaxWaitAction, QueueConfig, Strategy
from contactcore.adapters.db.records import QueueRecord
from contactcore.wiring import acd_queue


def test_every_routing_setting_of_a_stored_queue_reaches_the_engine() -> None:
    config = {
        "channels": ["voice", "chat"],
        "skills": {"billing": 3},
        "strategy": "best_skill",
        "relaxation": [{"after_seconds": 0, "min_level": 7}, {"after_seconds": 30, "min_level": 4}],
        "overflow": {"after_seconds": 180, "queue": "general"},
        "offer_timeout_seconds": 12,
        "reoffer_after_seconds": 45,
        "wrap_up_seconds": 10,
        "service_level": {"percent": 80, "seconds": 25},
        "max_wait_seconds": 600,
        "max_wait_action": "withdraw",
        "aging_seconds_per_point": 30,
    }
    q = acd_queue(QueueRecord(id="qid", name="billing", timezone="UTC", config=config, open=False))
    assert (q.id, q.open) == ("billing", False)
    assert q.channels == ("voice", "chat")
    assert q.skills == {"billing": 3}
    assert q.strategy is Strategy.BEST_SKILL
    assert [(s.after_s, s.min_level, s.overflow_to) for s in q.relaxation] == [
        (0, 7, None), (30, 4, None), (180, None, "general"),
    ]  # fmt: skip
    assert (q.offer_timeout_s, q.reoffer_after_s, q.wrapup_s) == (12, 45, 10)
    assert q.service_level_s == 25
    assert (q.max_wait_s, q.max_wait_action) == (600, MaxWaitAction.WITHDRAW)
    assert q.aging_s_per_point == 30


def test_a_queue_with_only_a_name_gets_the_engine_defaults() -> None:
    q = acd_queue(QueueRecord(id="qid", name="general", timezone="UTC", config={}, open=True))
    assert q == QueueConfig(id="general")
