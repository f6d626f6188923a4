"""QueuePositions: announcements share reads of the live routing state (in-memory reader)."""

from __future__ import annotations

import asyncio

import pytest

from contactcore.acd.model import QueueStats, TaskPosition
from contactcore.channels.positions import QueuePositions


class LiveState:
    """The routing engine's live numbers: tasks waiting in ``billing``; each read is slow."""

    def __init__(self) -> None:
        self.waiting: list[str] = []
        self.reads = 0
        self.fail = False

    async def read(self) -> list[QueueStats]:
        self.reads += 1
        waiting = list(self.waiting)  # what the engine holds when the read starts
        await asyncio.sleep(0.02)
        if self.fail:
            raise ConnectionError("redis went away")
        tasks = tuple(
            TaskPosition(task_id=t, position=i, waited_s=0.0, ewt_s=30.0 * i)
            for i, t in enumerate(waiting, start=1)
        )
        return [
            QueueStats(
                queue_id="billing",
                open=True,
                waiting=len(tasks),
                longest_wait_s=0.0,
                agents={},
                tasks=tasks,
                ewt_method="aht/agents",
            )
        ]


async def test_callers_entering_together_share_reads() -> None:
    live = LiveState()
    positions = QueuePositions(live.read)
    lookups = []
    for n in range(50):
        live.waiting.append(f"tk_{n}")
        lookups.append(asyncio.create_task(positions.lookup("billing", f"tk_{n}")))
        await asyncio.sleep(0.001)
    found = await asyncio.gather(*lookups)
    assert [p.position if p else None for p in found] == list(range(1, 51))
    assert live.reads <= 5, live.reads  # one read per lookup before


async def test_a_task_queued_during_a_read_waits_for_the_next_one() -> None:
    live = LiveState()
    positions = QueuePositions(live.read)
    live.waiting.append("tk_a")
    first = asyncio.create_task(positions.lookup("billing", "tk_a"))
    await asyncio.sleep(0.005)  # the read is under way without tk_b
    live.waiting.append("tk_b")
    second = await positions.lookup("billing", "tk_b")
    assert second is not None
    assert second.position == 2
    assert (await first) is not None


async def test_a_recent_snapshot_answers_periodic_announcements_without_a_read() -> None:
    live = LiveState()
    positions = QueuePositions(live.read, max_age_s=5.0)
    live.waiting += ["tk_a", "tk_b"]
    await positions.lookup("billing", "tk_a")
    reads = live.reads
    again = await positions.lookup("billing", "tk_b")
    assert again is not None
    assert again.position == 2
    assert live.reads == reads


async def test_a_snapshot_older_than_max_age_is_read_again() -> None:
    live = LiveState()
    positions = QueuePositions(live.read, max_age_s=0.01)
    live.waiting += ["tk_a", "tk_b"]
    await positions.lookup("billing", "tk_a")
    live.waiting.remove("tk_a")
    await asyncio.sleep(0.02)
    moved = await positions.lookup("billing", "tk_b")
    assert moved is not None
    assert moved.position == 1
    assert live.reads == 2


async def test_a_task_no_longer_waiting_has_no_position_and_a_failed_read_raises() -> None:
    live = LiveState()
    positions = QueuePositions(live.read)
    assert await positions.lookup("billing", "tk_gone") is None
    live.fail = True
    with pytest.raises(ConnectionError):
        await positions.lookup("billing", "tk_other")
