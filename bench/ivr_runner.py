"""Flow-runner overhead: from a caller's key to the start of the next prompt.

Runs many concurrent calls through the demo flow (dialplans/main.yaml) against an
instant in-memory session, so the figures are the controller's own share of the
DTMF -> next prompt delay (the issue's goal is <= 50 ms p99 end to end) and its
CPU per call in the IVR. Prints one JSON object.

    python bench/ivr_runner.py --calls 2000 --concurrency 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from contactcore.core.clock import SystemClock
from contactcore.core.directory import CustomerRecord
from contactcore.core.telephony import DigitsResult, PlayResult, QueueRequest, QueueResult
from contactcore.ivr.idv import IdentityChecker, IdvPolicy, hash_pin, pin_matches
from contactcore.ivr.loader import FlowRegistry
from contactcore.ivr.runner import FlowRunner, RunOutcome
from contactcore.testing.telephony import (
    EventLog,
    FakeEnqueuer,
    InMemoryDirectory,
    InMemoryLockStore,
    Press,
    ScriptedCallSession,
)

DIALPLANS = Path(__file__).resolve().parents[1] / "dialplans"


class TimedSession(ScriptedCallSession):
    """Notes when a key reached the flow and when the next prompt (or queue) was asked for."""

    def __init__(self, keys: str, delays: list[float], caller: str) -> None:
        super().__init__([Press(k, barge_in=True) for k in keys], caller_number=caller)
        self.delays = delays
        self.key_at: float | None = None

    def next_media(self) -> None:
        if self.key_at is not None:
            self.delays.append(time.perf_counter() - self.key_at)
            self.key_at = None

    async def play(self, media: Sequence[str], *, interrupt_keys: str = "") -> PlayResult:
        self.next_media()
        result = await super().play(media, interrupt_keys=interrupt_keys)
        if result.interrupted_by is not None:
            self.key_at = time.perf_counter()
        return result

    async def collect_digits(self, **kwargs: object) -> DigitsResult:  # type: ignore[override]
        result = await super().collect_digits(**kwargs)  # type: ignore[arg-type]
        self.key_at = time.perf_counter()
        return result


class TimedEnqueuer(FakeEnqueuer):
    """Entering the queue starts music/announcements: the end of a key's delay too."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, TimedSession] = {}

    async def enqueue(self, request: QueueRequest) -> QueueResult:
        self.sessions.pop(request.call_id).next_media()
        return await super().enqueue(request)


async def run(calls: int, concurrency: int) -> dict[str, object]:
    registry = FlowRegistry(DIALPLANS)
    registry.load()
    vip = CustomerRecord(id="c1", name="Vic", tier="vip", phones=("+441632960002",))
    identity = IdentityChecker(
        InMemoryDirectory([vip]), InMemoryLockStore(), SystemClock(), IdvPolicy()
    )
    events = EventLog()
    enqueuer = TimedEnqueuer()
    runner = FlowRunner(
        registry,
        identity=identity,
        enqueuer=enqueuer,
        recorder=events,
        clock=SystemClock(),
    )
    delays: list[float] = []
    outcomes: dict[str, int] = {}
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        # A mix: most callers pick 1 or 2, some press a wrong key first, some are VIPs.
        keys = ["1", "2", "92", "2"][i % 4]
        caller = "+441632960002" if i % 10 == 0 else f"+4416329{i % 100000:05d}"
        async with semaphore:
            session = TimedSession(keys, delays, caller)
            enqueuer.sessions[session.call_id] = session
            result = await runner.run(session)
        outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    stored = hash_pin("4321")
    t0 = time.process_time()
    for _ in range(5):
        pin_matches(stored, "4321")
    argon2_ms = (time.process_time() - t0) / 5 * 1000

    delays.sort()
    p99 = delays[int(len(delays) * 0.99) - 1] if delays else 0.0
    return {
        "bench": "ivr_runner",
        "calls": calls,
        "concurrency": concurrency,
        "failed": sum(n for k, n in outcomes.items() if k != RunOutcome.ANSWERED.value),
        "calls_per_s": round(calls / wall, 1),
        "cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "events_per_call": round(len(events.events) / calls, 1),
        "key_to_prompt_samples": len(delays),
        "key_to_prompt_p50_ms": round(statistics.median(delays) * 1000, 3) if delays else None,
        "key_to_prompt_p99_ms": round(p99 * 1000, 3),
        "argon2_verify_cpu_ms": round(argon2_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.concurrency))))


if __name__ == "__main__":
    main()
