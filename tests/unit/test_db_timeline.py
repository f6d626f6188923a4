"""BufferedTimeline: batched timeline writes that never drop an event (in-memory store)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from contactcore.adapters.db.timeline import BufferedTimeline
from contactcore.core.events import DomainEvent
from contactcore.errors import DependencyUnavailable


class MemoryStore:
    """Stores like the repository would; can be made slow, unavailable or picky."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.calls: list[int] = []  # size of each add_events call
        self.finished: dict[str, tuple[str, int]] = {}  # outcome, events stored by then
        self.down = 0  # the next N writes fail as unavailable
        self.refuse: set[str] = set()  # event types the database never takes
        self.delay = 0.0

    async def start(
        self,
        interaction_id: str,
        channel: str,
        started_at: float,
        caller: str | None = None,
        called: str | None = None,
    ) -> None:
        return None

    async def add_events(self, events: Sequence[DomainEvent]) -> None:
        self.calls.append(len(events))
        await asyncio.sleep(self.delay)
        if self.down:
            self.down -= 1
            raise DependencyUnavailable("database unavailable: connection refused")
        if any(e.type in self.refuse for e in events):
            raise ValueError("cannot store this")
        self.events.extend(events)

    async def finish(self, interaction_id: str, ended_at: float, outcome: str) -> None:
        self.finished[interaction_id] = (outcome, len(self.events))


def ev(n: int, kind: str = "ivr.node") -> DomainEvent:
    return DomainEvent(type=kind, at=float(n), interaction_id="ix_1", payload={"n": n})


async def test_events_are_queued_at_once_and_stored_in_order_in_few_batches() -> None:
    store = MemoryStore()
    store.delay = 0.01
    timeline = BufferedTimeline(store)
    timeline.start_writer()
    for n in range(200):
        await timeline.add_event(ev(n))
    assert store.events == []  # nothing was written on the caller's path
    await timeline.flush()
    assert [e.payload["n"] for e in store.events] == list(range(200))
    assert len(store.calls) <= 3, store.calls
    await timeline.close()


async def test_finish_waits_until_the_interactions_events_are_stored() -> None:
    store = MemoryStore()
    store.delay = 0.01
    timeline = BufferedTimeline(store)
    timeline.start_writer()
    for n in range(5):
        await timeline.add_event(ev(n))
    await timeline.finish("ix_1", 10.0, "answered")
    assert store.finished["ix_1"] == ("answered", 5)
    await timeline.close()


async def test_an_unavailable_database_delays_events_but_loses_none() -> None:
    store = MemoryStore()
    store.down = 3
    timeline = BufferedTimeline(store, retry_initial=0.01)
    timeline.start_writer()
    for n in range(10):
        await timeline.add_event(ev(n))
    await timeline.flush()
    assert [e.payload["n"] for e in store.events] == list(range(10))
    assert len(store.calls) >= 4
    await timeline.close()


async def test_an_event_the_database_refuses_is_logged_and_its_neighbours_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    store.refuse = {"bad"}
    timeline = BufferedTimeline(store)
    timeline.start_writer()
    for n in range(3):
        await timeline.add_event(ev(n))
    await timeline.add_event(ev(3, "bad"))
    await timeline.add_event(ev(4))
    await timeline.flush()
    assert [e.payload["n"] for e in store.events] == [0, 1, 2, 4]
    assert timeline.refused == 1
    assert '"type":"bad"' in caplog.text
    await timeline.close()


async def test_a_full_queue_makes_callers_wait_instead_of_dropping() -> None:
    store = MemoryStore()
    store.down = 5
    timeline = BufferedTimeline(store, max_batch=2, max_queued=4, retry_initial=0.02)
    timeline.start_writer()
    for n in range(4):
        await timeline.add_event(ev(n))
    late = asyncio.create_task(timeline.add_event(ev(4)))
    await asyncio.sleep(0.03)
    assert not late.done(), "the fifth event must wait for room"
    await late
    await timeline.flush()
    assert [e.payload["n"] for e in store.events] == list(range(5))
    await timeline.close()


async def test_close_stores_what_is_still_queued() -> None:
    store = MemoryStore()
    store.delay = 0.02
    timeline = BufferedTimeline(store)
    timeline.start_writer()
    for n in range(50):
        await timeline.add_event(ev(n))
    await timeline.close()
    assert len(store.events) == 50
    assert timeline.pending == 0


async def test_flush_before_the_writer_runs_is_a_wiring_mistake() -> None:
    timeline = BufferedTimeline(MemoryStore())
    with pytest.raises(RuntimeError, match="start_writer"):
        await timeline.flush()
