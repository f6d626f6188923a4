"""Workforce planning in SQL: interval statistics and the history they are built from.

``SqlIntervalStore`` implements ``core.wfm.IntervalStore`` on the ``interval_stats``
table; increments are one ``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x``
statement, so concurrent writers never lose a count.

``SqlHistory`` implements ``core.wfm.HistorySource`` by reading ``interactions`` and
their timelines. The convention it reads (one place to change when the event names of
the routing engine settle):

- offered: the first ``queue.entered`` event (its ``queue_id``), else the interaction's
  ``started_at`` and ``queue_id``; interactions that never reached a queue are skipped;
- answered: the first ``agent.answered`` (or ``task.answered``) event;
- abandoned: an unanswered interaction that ended, at the first ``queue.abandoned``
  event or else at ``ended_at``;
- handle time: ``talk_seconds`` / ``hold_seconds`` / ``wrap_seconds`` in the
  interaction's attributes when the channel records them; otherwise hold is the sum of
  ``hold.started`` -> ``hold.ended``, wrap-up the routing engine's
  ``agent.wrapup_started`` -> ``agent.wrapup_ended`` of the interaction's task, and talk
  the rest from answer to wrap-up (or to the end).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, select

from contactcore.adapters.db._base import Repository, dialect_insert
from contactcore.adapters.db.tables import interaction_events, interactions, interval_stats
from contactcore.core.wfm import InteractionSummary, IntervalStat

log = logging.getLogger(__name__)

QUEUED = frozenset({"queue.entered"})
ANSWERED = frozenset({"agent.answered", "task.answered"})
ABANDONED = frozenset({"queue.abandoned"})
HOLD = ("hold.started", "hold.ended")
# the routing engine's wrap-up events carry the task, not the interaction: they are found
# through the task ids of the interaction's own events (e.g. ``queue.entered``)
WRAP = ("agent.wrapup_started", "agent.wrapup_ended")
EVENT_TYPES = sorted(QUEUED | ANSWERED | ABANDONED | set(HOLD) | set(WRAP))
DIGITAL = frozenset({"chat", "email", "message", "social", "task"})
# Work is offered after the interaction starts (IVR first): how far back to look.
LOOKBACK_SECONDS = 6 * 3600.0
_COUNTERS = (
    "offered",
    "answered",
    "abandoned",
    "answered_in_sl",
    "handle_seconds",
    "answer_wait_seconds",
    "abandon_wait_seconds",
)


def _stat(row: Row[Any]) -> IntervalStat:
    return IntervalStat(
        queue_id=row.queue_id,
        channel=row.channel,
        start=row.start,
        seconds=row.seconds,
        offered=row.offered,
        answered=row.answered,
        abandoned=row.abandoned,
        answered_in_sl=row.answered_in_sl,
        handle_seconds=row.handle_seconds,
        answer_wait_seconds=row.answer_wait_seconds,
        abandon_wait_seconds=row.abandon_wait_seconds,
        backlog=row.backlog,
    )


def _values(r: IntervalStat) -> dict[str, Any]:
    return {
        "queue_id": r.queue_id,
        "channel": r.channel,
        "start": r.start,
        "seconds": r.seconds,
        "offered": r.offered,
        "answered": r.answered,
        "abandoned": r.abandoned,
        "answered_in_sl": r.answered_in_sl,
        "handle_seconds": r.handle_seconds,
        "answer_wait_seconds": r.answer_wait_seconds,
        "abandon_wait_seconds": r.abandon_wait_seconds,
        "backlog": r.backlog,
    }


class SqlIntervalStore(Repository):
    async def replace(
        self, start: float, end: float, stats: Sequence[IntervalStat], queue_id: str | None = None
    ) -> None:
        cond = and_(interval_stats.c.start >= start, interval_stats.c.start < end)
        if queue_id is not None:
            cond = and_(cond, interval_stats.c.queue_id == queue_id)
        async with self._tx() as conn:
            await conn.execute(delete(interval_stats).where(cond))
            if stats:
                await conn.execute(interval_stats.insert(), [_values(r) for r in stats])
        log.info("interval stats replaced: %s rows (queue %s)", len(stats), queue_id)

    async def add(self, stats: Sequence[IntervalStat]) -> None:
        if not stats:
            return
        async with self._tx() as conn:
            stmt: Any = dialect_insert(conn, interval_stats)
            excluded = stmt.excluded
            set_ = {c: interval_stats.c[c] + excluded[c] for c in _COUNTERS}
            set_["backlog"] = excluded.backlog
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        interval_stats.c.queue_id,
                        interval_stats.c.channel,
                        interval_stats.c.start,
                    ],
                    set_=set_,
                ),
                [_values(r) for r in stats],
            )

    async def load(
        self, queue_id: str, start: float, end: float, channel: str | None = None
    ) -> list[IntervalStat]:
        query = select(interval_stats).where(
            interval_stats.c.queue_id == queue_id,
            interval_stats.c.start >= start,
            interval_stats.c.start < end,
        )
        if channel is not None:
            query = query.where(interval_stats.c.channel == channel)
        query = query.order_by(interval_stats.c.start, interval_stats.c.channel)
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [_stat(r) for r in rows]

    async def queues(self) -> list[tuple[str, str]]:
        query = (
            select(interval_stats.c.queue_id, interval_stats.c.channel)
            .distinct()
            .order_by(interval_stats.c.queue_id, interval_stats.c.channel)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.queue_id, r.channel) for r in rows]


def summarise(interaction: Row[Any], events: Sequence[Row[Any]]) -> InteractionSummary | None:
    """One interaction and its (time-ordered) events as planning sees them."""
    offered_at: float | None = None
    queue_id = interaction.queue_id
    answered_at: float | None = None
    abandoned_at: float | None = None
    marks: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.type in QUEUED and offered_at is None:
            offered_at, queue_id = e.at, e.queue_id or queue_id
        elif e.type in ANSWERED and answered_at is None:
            answered_at = e.at
        elif e.type in ABANDONED and abandoned_at is None:
            abandoned_at = e.at
        else:
            marks[e.type].append(e.at)
    if queue_id is None:
        return None
    if offered_at is None:
        offered_at = interaction.started_at
    ended = interaction.ended_at
    if answered_at is not None:
        abandoned_at = None
    elif abandoned_at is None and ended is not None:
        abandoned_at = ended
    attrs = dict(interaction.attributes or {})
    talk = hold = wrap = 0.0
    if answered_at is not None:
        hold = sum(b - a for a, b in zip(marks[HOLD[0]], marks[HOLD[1]], strict=False))
        wrap_start = marks[WRAP[0]][0] if marks[WRAP[0]] else None
        wrap_end = marks[WRAP[1]][0] if marks[WRAP[1]] else None
        if wrap_start is not None and wrap_end is not None:
            wrap = max(0.0, wrap_end - wrap_start)
        talk_end = wrap_start if wrap_start is not None else ended
        if talk_end is not None:
            talk = max(0.0, talk_end - answered_at - hold)
    return InteractionSummary(
        queue_id=queue_id,
        channel=interaction.channel,
        offered_at=offered_at,
        answered_at=answered_at,
        abandoned_at=abandoned_at,
        talk_seconds=float(attrs.get("talk_seconds", talk)),
        hold_seconds=float(attrs.get("hold_seconds", hold)),
        wrap_seconds=float(attrs.get("wrap_seconds", wrap)),
    )


class SqlHistory(Repository):
    """``HistorySource`` over the recorded interactions (see the module docstring)."""

    async def offered_at(self, task_ids: Sequence[str]) -> list[float]:
        """When each of these tasks entered its queue (the interval its statistics go to)."""
        if not task_ids:
            return []
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(interaction_events.c.at).where(
                        interaction_events.c.task_id.in_(list(task_ids)),
                        interaction_events.c.type.in_(QUEUED),
                    )
                )
            ).all()
        return [float(r.at) for r in rows]

    async def summaries(
        self, start: float, end: float, queue_id: str | None = None
    ) -> AsyncIterator[InteractionSummary]:
        window = and_(
            interactions.c.started_at >= start - LOOKBACK_SECONDS,
            interactions.c.started_at < end,
        )
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(interactions).where(window).order_by(interactions.c.started_at)
                )
            ).all()
            ids = select(interactions.c.id).where(window).scalar_subquery()
            events = (
                await conn.execute(
                    select(interaction_events)
                    .where(
                        interaction_events.c.interaction_id.in_(ids),
                        interaction_events.c.type.in_(EVENT_TYPES),
                    )
                    .order_by(
                        interaction_events.c.interaction_id,
                        interaction_events.c.at,
                        interaction_events.c.seq,
                    )
                )
            ).all()
            by_interaction: dict[str, list[Row[Any]]] = defaultdict(list)
            owner: dict[str, str] = {}
            for e in events:
                by_interaction[e.interaction_id].append(e)
                if e.task_id:
                    owner[e.task_id] = e.interaction_id
            if owner:
                wraps = (
                    await conn.execute(
                        select(interaction_events).where(
                            interaction_events.c.task_id.in_(list(owner)),
                            interaction_events.c.type.in_(WRAP),
                        )
                    )
                ).all()
                for e in wraps:
                    by_interaction[owner[e.task_id]].append(e)
                for found in by_interaction.values():
                    found.sort(key=lambda e: (e.at, e.seq))
        for row in rows:
            if row.ended_at is None and row.channel not in DIGITAL:
                continue  # a call still in progress: counted when it ends
            s = summarise(row, by_interaction.get(row.id, []))
            if s is None or not start <= s.offered_at < end:
                continue
            if queue_id is not None and s.queue_id != queue_id:
                continue
            yield s
