"""The history consumer: reads the event stream with a consumer group, hands batches to a
sink (SQL history), acknowledges only after the sink has stored them.

Delivery is at least once; the sink is idempotent by event id, so a consumer killed between
"stored" and "acknowledged" duplicates nothing. On start it first re-reads its own
unacknowledged entries, and on every round it takes over entries that a dead consumer of
the same group left pending for longer than ``claim_idle_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from contactcore.acd.ports import EventSink, EventSource
from contactcore.core.events import DomainEvent

log = logging.getLogger(__name__)


async def _deliver(
    source: EventSource, sink: EventSink, entries: Sequence[tuple[str, DomainEvent]]
) -> int:
    if not entries:
        return 0
    await sink.write([ev for _, ev in entries])
    await source.ack([eid for eid, _ in entries])
    return len(entries)


async def run_history_consumer(
    source: EventSource,
    sink: EventSink,
    stop: asyncio.Event,
    batch: int = 200,
    block_ms: int = 500,
    claim_idle_ms: int = 30_000,
) -> int:
    """Run until ``stop`` is set; returns how many events were delivered.

    A failing source or sink (Redis restarting, and its consumer group gone with it; the
    database away) does not end it: it says so, waits (up to 5 s, growing) and starts
    over from its group, so what was not acknowledged is delivered then.
    """
    delivered = 0
    backoff = 0.0
    while not stop.is_set():
        try:
            await source.ensure_group()
            while True:  # our own leftovers from before a crash, oldest first
                n = await _deliver(source, sink, await source.read_pending(batch))
                delivered += n
                if n == 0:
                    break
            while not stop.is_set():
                stale = await source.claim_stale(claim_idle_ms, batch)
                delivered += await _deliver(source, sink, stale)
                delivered += await _deliver(source, sink, await source.read_new(batch, block_ms))
                backoff = 0.0
        except Exception as exc:  # the loop outlives it: history is only late, never lost
            backoff = min(5.0, max(0.2, backoff * 2))
            log.warning("history consumer: %r; again in %.1f s", exc, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
    log.info("history consumer stopped after %d events", delivered)
    return delivered
