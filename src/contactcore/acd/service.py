"""Use cases of the routing engine.

Every state change is one atomic command on the routing store (Redis + Lua), which also
appends the domain events, so several routers can run against one Redis at once. Time
comes from the injected clock, so simulation can run the engine on virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from contactcore.acd.model import (
    AgentConfig,
    AgentLive,
    AgentWork,
    Channel,
    CustomerContext,
    MaxWaitAction,
    Offer,
    Presence,
    QueueConfig,
    QueueStats,
    TaskPosition,
    TaskSpec,
    WorkItem,
    WrapItem,
)
from contactcore.acd.ports import RoutingDurableStore, RoutingStore
from contactcore.acd.rules import EwtInputs, PriorityRules, ewt, overflow_target, routing_score
from contactcore.core.clock import Clock
from contactcore.errors import Conflict, ContactcoreError, InvalidInput, NotFound

log = logging.getLogger(__name__)

_PRESENCE = ("presence", "reason")

DURABLE_CHANNELS: frozenset[str] = frozenset({Channel.EMAIL, Channel.CHAT, Channel.CALLBACK})

_ERRORS: dict[str, type[ContactcoreError]] = {
    "queue_not_found": NotFound,
    "task_not_found": NotFound,
    "agent_not_found": NotFound,
    "queue_closed": Conflict,
    "task_exists": Conflict,
    "task_assigned": Conflict,
    "task_not_waiting": Conflict,
    "not_offered": Conflict,
    "not_assigned": Conflict,
    "channel_not_taken": InvalidInput,
}


class RoutingError(Conflict):
    error_id = "acd.rejected"


def _check(result: Any, **ids: str) -> Any:
    if isinstance(result, dict) and "err" in result:
        code = str(result["err"])
        cls = _ERRORS.get(code, RoutingError)
        err = cls(f"routing refused: {code}", code=code, **ids)
        err.error_id = f"acd.{code}"
        raise err
    return result


async def _each(
    pairs: Sequence[tuple[str, str]],
    results: Sequence[Any],
    record: Callable[[str, str, dict[str, Any]], Awaitable[None]],
) -> None:
    """Record every (task, agent) the engine took, then raise its first refusal, if any.

    Stopping at the first refusal would leave the later ones done in Redis but not in
    SQL, and a rebuild would route them again.
    """
    first: ContactcoreError | None = None
    for (task_id, agent_id), res in zip(pairs, results, strict=True):
        try:
            _check(res, task_id=task_id, agent_id=agent_id)
        except ContactcoreError as exc:
            first = first or exc
            continue
        await record(task_id, agent_id, res)
    if first is not None:
        raise first


def queue_doc(q: QueueConfig) -> dict[str, Any]:
    """The queue as the store keeps it (names mirror acd.lua)."""
    doc: dict[str, Any] = {
        "id": q.id,
        "open": q.open,
        "channels": list(q.channels),
        "skills": dict(q.skills),
        "strategy": str(q.strategy),
        "relax": [
            {"after": s.after_s, "level": s.min_level}
            for s in q.relaxation
            if s.min_level is not None
        ],
        "offer_timeout": q.offer_timeout_s,
        "reoffer_after": q.reoffer_after_s,
        "wrapup": q.wrapup_s,
        "sl": q.service_level_s,
        "aging": q.aging_s_per_point,
    }
    over = overflow_target(q)
    if over is not None:
        doc["overflow_after"], doc["overflow_to"] = over
    if q.max_wait_s is not None:
        doc["max_wait"] = q.max_wait_s
        doc["max_wait_action"] = str(q.max_wait_action)
    return doc


def agent_doc(a: AgentConfig, presence: Presence, reason: str | None) -> dict[str, Any]:
    return {
        "id": a.id,
        "skills": dict(a.skills),
        "capacity": dict(a.capacity),
        "blocks": {k: list(v) for k, v in a.blocks.items()},
        "presence": str(presence),
        "reason": reason or "",
    }


# decisions per routing call: the router's batch while tasks wait and agents are free
MATCH_LIMIT = 32


class RoutingService:
    def __init__(
        self,
        store: RoutingStore,
        clock: Clock,
        durable: RoutingDurableStore | None = None,
        priority_rules: PriorityRules | None = None,
        durable_channels: Iterable[str] = DURABLE_CHANNELS,
        match_limit: int = MATCH_LIMIT,
        scan: int = 64,
    ) -> None:
        self.store = store
        self.clock = clock
        self.durable = durable
        self.rules = priority_rules or PriorityRules.default()
        self.durable_channels = frozenset(durable_channels)
        self.match_limit = match_limit
        self.scan = scan
        self._queues: dict[str, QueueConfig] = {}
        self._reload_queues: Callable[[], Awaitable[Sequence[QueueConfig]]] | None = None

    async def _run(self, command: str, args: Mapping[str, Any], **ids: str) -> Any:
        return _check(await self.store.execute(command, self.clock.now(), args), **ids)

    # ---------------------------------------------------------------- queues
    async def put_queue(self, queue: QueueConfig) -> None:
        self._queues[queue.id] = queue
        await self._run("put_queue", {"queue": queue_doc(queue)}, queue_id=queue.id)

    async def set_queue_open(self, queue_id: str, is_open: bool) -> None:
        await self._run("set_queue_open", {"queue": queue_id, "open": is_open}, queue_id=queue_id)
        if queue_id in self._queues:
            self._queues[queue_id] = self._queues[queue_id].model_copy(update={"open": is_open})
        log.info("queue %s %s", queue_id, "opened" if is_open else "closed")

    # ---------------------------------------------------------------- agents
    async def login(
        self, agent: AgentConfig, presence: Presence = Presence.NOT_READY, reason: str | None = None
    ) -> None:
        """Log in (or update) an agent; it stays logged in across Redis restarts."""
        doc = agent_doc(agent, presence, reason)
        await self._run("put_agent", {"agent": doc}, agent_id=agent.id)
        # also for an agent still known to the router (one who logged out with work in
        # hand): the presence asked for is the one it gets
        await self._run(
            "presence",
            {"agent": agent.id, "presence": str(presence), "reason": reason},
            agent_id=agent.id,
        )
        if self.durable is not None:
            await self.durable.save_agent(doc)
        log.info("agent %s logged in as %s", agent.id, presence)

    async def update_agent(self, agent: AgentConfig) -> None:
        """Change skills, levels, capacities or cross-channel rules at once."""
        doc = agent_doc(agent, Presence.NOT_READY, None)
        await self._run("put_agent", {"agent": doc}, agent_id=agent.id)
        if self.durable is not None:
            # presence is not part of this change: the store keeps what it has
            await self.durable.save_agent({k: v for k, v in doc.items() if k not in _PRESENCE})

    async def set_presence(
        self, agent_id: str, presence: Presence, reason: str | None = None
    ) -> None:
        """Pause (not_ready with a reason), unpause (available) or log out (offline)."""
        res = await self._run(
            "presence",
            {"agent": agent_id, "presence": str(presence), "reason": reason},
            agent_id=agent_id,
        )
        if self.durable is not None:
            if res.get("logged_out"):
                await self.durable.delete_agent(agent_id)
            else:
                # offline with work in hand stays durable until that work is done: a
                # rebuild meanwhile gives the work back to this agent
                await self.durable.save_agent(
                    {"id": agent_id, "presence": str(presence), "reason": reason or ""}
                )
        log.info("agent %s presence %s (%s)", agent_id, presence, reason)

    async def _logged_out(self, agent_ids: Iterable[str]) -> None:
        """Agents the engine logged out for good (the last work of an agent who had logged
        out is done): their durable sessions end now."""
        if self.durable is not None:
            for agent_id in agent_ids:
                await self.durable.delete_agent(agent_id)

    async def end_wrapup(self, agent_id: str) -> None:
        res = await self._run("end_wrapup", {"agent": agent_id}, agent_id=agent_id)
        if res.get("logged_out"):
            await self._logged_out([agent_id])

    # ---------------------------------------------------------------- tasks
    def _task_doc(self, task: TaskSpec, now: float) -> dict[str, Any]:
        priority = self.rules.priority(task.customer.tier, task.category, task.priority)
        doc: dict[str, Any] = {
            "id": task.id,
            "channel": task.channel,
            "queue": task.queue,
            "priority": priority,
            "enqueued_at": task.enqueued_at if task.enqueued_at is not None else now,
            "skills": dict(task.skills),
            "customer": task.customer.model_dump(exclude_none=True),
            "attributes": dict(task.attributes),
        }
        if task.category:
            doc["attributes"]["category"] = task.category
        if task.deadline is not None:
            doc["deadline"] = task.deadline
        return doc

    async def enqueue(self, task: TaskSpec) -> None:
        await self.enqueue_many([task])

    async def enqueue_many(self, tasks: Sequence[TaskSpec]) -> None:
        """Enqueue in one atomic call; stops at nothing, but raises for the first refusal."""
        now = self.clock.now()
        docs = [self._task_doc(t, now) for t in tasks]
        # durable tasks are in SQL before they can be offered: an accept that comes at
        # once finds its row (a refusal below takes back what was stored here)
        stored: set[str] = set()
        if self.durable is not None:
            for doc in docs:
                if doc["channel"] in self.durable_channels and await self.durable.save_task(
                    doc | {"state": "waiting"}
                ):
                    stored.add(doc["id"])
        results = await self.store.execute("enqueue", now, {"tasks": docs})
        if any(r.get("err") == "queue_not_found" and r.get("task") for r in results) and (
            not await self.store.is_live()
        ):
            # Redis lost the routing state under us: refill it, then enqueue again (the
            # refill itself brought back the tasks stored above)
            await self.recover()
            results = [
                {"ok": True, "task": r["task"]}
                if r.get("err") == "task_exists" and r.get("task") in stored
                else r
                for r in await self.store.execute("enqueue", now, {"tasks": docs})
            ]
        for doc, res in zip(docs, results, strict=True):
            if "err" in res and doc["id"] in stored and self.durable is not None:
                await self.durable.delete_task(doc["id"])
        for res in results:
            _check(res, task_id=str(res.get("task")))

    async def withdraw(self, task_id: str, reason: str = "withdrawn") -> None:
        """The customer left (hang-up, chat closed) or the task became a callback."""
        await self._run("withdraw", {"task": task_id, "reason": reason}, task_id=task_id)
        if self.durable is not None:
            await self.durable.delete_task(task_id)

    async def set_priority(self, task_id: str, priority: float) -> None:
        await self._run("set_priority", {"task": task_id, "priority": priority}, task_id=task_id)
        if self.durable is not None:
            await self.durable.update_task(task_id, priority=priority)

    async def move_task(self, task_id: str, queue_id: str) -> None:
        """Move a waiting task to another queue (open, and taking the task's channel); it
        keeps its enqueued-at and priority."""
        await self._run("move", {"task": task_id, "queue": queue_id}, task_id=task_id)
        if self.durable is not None:
            await self.durable.update_task(task_id, queue=queue_id)

    # ---------------------------------------------------------------- routing
    async def route(self, limit: int | None = None) -> list[Offer]:
        """One atomic batch of routing decisions; returns the offers made."""
        res = await self._run("match", {"limit": limit or self.match_limit, "scan": self.scan})
        return [Offer(task_id=t, agent_id=a, queue_id=q, channel=c) for t, a, q, c in res["offers"]]

    async def tick(self) -> dict[str, int]:
        """Time-driven changes: offers timed out (RONA), wrap-ups over, overflow, max wait.

        Returns how many of each; overflows and withdrawals of durable tasks are written
        to the durable store too.
        """
        out = await self._run("tick", {})
        if self.durable is not None:
            # (Lua's JSON writes an empty list as {})
            for task_id, queue_id, channel in out.get("overflowed") or ():
                if channel in self.durable_channels:
                    await self.durable.update_task(task_id, queue=queue_id)
            for task_id, channel in out.get("withdrawn") or ():
                if channel in self.durable_channels:
                    await self.durable.delete_task(task_id)
            for agent_id in out.get("no_answer") or ():
                await self._not_answered(agent_id, "no-answer")
            await self._logged_out(out.get("logged_out") or ())
        return {k: int(out[k]) for k in ("rona", "wrapups", "waits")}

    async def _not_answered(self, agent_id: str, reason: str) -> None:
        """An offer rang out: the agent is not ready, in SQL too (a rebuild keeps it so)."""
        if self.durable is not None:
            await self.durable.save_agent(
                {"id": agent_id, "presence": str(Presence.NOT_READY), "reason": reason}
            )

    async def accept(self, task_id: str, agent_id: str) -> None:
        await self.accept_many([(task_id, agent_id)])

    async def accept_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Accept several offers; each is its own decision.

        The ones the engine took are recorded durably even when another was refused;
        the first refusal is raised after that.
        """
        results = await self.store.execute(
            "accept", self.clock.now(), {"offers": [list(p) for p in pairs]}
        )

        async def assigned(task_id: str, agent_id: str, res: dict[str, Any]) -> None:
            if self.durable is not None and res.get("channel") in self.durable_channels:
                await self.durable.assign_task(task_id, agent_id)

        await _each(pairs, results, assigned)

    async def reject(self, task_id: str, agent_id: str, reason: str = "rejected") -> None:
        await self._run(
            "reject",
            {"task": task_id, "agent": agent_id, "reason": reason},
            task_id=task_id,
            agent_id=agent_id,
        )

    async def no_answer(self, task_id: str, agent_id: str, reason: str = "no-answer") -> None:
        """RONA reported by the channel: the agent goes not ready, the task keeps its place."""
        await self._run(
            "rona",
            {"task": task_id, "agent": agent_id, "reason": reason},
            task_id=task_id,
            agent_id=agent_id,
        )
        await self._not_answered(agent_id, reason)

    async def finish(self, task_id: str, agent_id: str) -> None:
        await self.finish_many([(task_id, agent_id)])

    async def finish_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Finish several tasks; as ``accept_many``, a refusal is raised after the others
        are recorded."""
        results = await self.store.execute(
            "finish", self.clock.now(), {"tasks": [list(p) for p in pairs]}
        )

        async def finished(task_id: str, agent_id: str, res: dict[str, Any]) -> None:
            if self.durable is not None:
                await self.durable.delete_task(task_id)
            if res.get("logged_out"):
                await self._logged_out([agent_id])

        await _each(pairs, results, finished)

    async def run(self, stop: asyncio.Event, tick_s: float = 0.2, idle_s: float = 0.05) -> None:
        """A router: batches of decisions while there are any, timers every ``tick_s``.

        Waking on time is deliberate: relaxation steps, RONA and wrap-up ends are due by
        the clock, not by an event.
        """
        last_tick = 0.0
        backoff = 0.0
        while not stop.is_set():
            try:
                now = self.clock.now()
                if now - last_tick >= tick_s:
                    if not await self.store.is_live():
                        await self.recover()
                    await self.tick()
                    last_tick = now
                offers = await self.route()
                backoff = 0.0
            except Exception as exc:  # e.g. Redis restarting: the router outlives it
                backoff = min(5.0, max(0.1, backoff * 2))
                log.warning("router: %r; again in %.1f s", exc, backoff)
                offers = []
            if not offers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(idle_s, backoff))

    # ---------------------------------------------------------------- live numbers
    async def live_numbers(self) -> list[QueueStats]:
        """Per queue: waiting, longest wait, agents by state, each task's position and EWT."""
        state = await self.store.read_state()
        now = self.clock.now()
        stats: list[QueueStats] = []
        for qid, q in sorted(state["queues"].items()):
            cfg = q["config"]
            counts = {"available": 0, "busy": 0, "wrap_up": 0, "not_ready": 0}
            serving = 0
            for a in state["agents"].values():
                if not _serves(a, cfg):
                    continue
                serving += 1
                counts[_agent_state(a)] += 1
            inputs = EwtInputs(q["departures"], q["handle_times"], serving, now)
            tasks = []
            for pos, tid in enumerate(q["waiting"], start=1):
                waited = now - state["enqueued_at"].get(tid, now)
                est = ewt(pos, inputs)
                tasks.append(
                    TaskPosition(
                        task_id=tid,
                        position=pos,
                        waited_s=waited,
                        ewt_s=-1.0 if est is None else est,
                    )
                )
            oldest = q["oldest_enqueued_at"]
            stats.append(
                QueueStats(
                    queue_id=qid,
                    open=bool(cfg.get("open")),
                    waiting=len(q["waiting"]),
                    longest_wait_s=0.0 if oldest is None else now - float(oldest),
                    agents=counts,
                    tasks=tuple(tasks),
                    ewt_method="departure-gap" if len(q["departures"]) >= 4 else "aht/agents",
                    service_level_s=float(cfg.get("sl") or 20.0),
                )
            )
        return stats

    async def live_agents(self) -> list[AgentLive]:
        """Every agent the router knows: presence, state, work in hand and time in state."""
        state = await self.store.read_state()
        now = self.clock.now()
        out: list[AgentLive] = []
        for aid, a in sorted(state["agents"].items()):
            st = _agent_state(a)
            # the state began at the later of the presence change and the last load change
            marks = [float(v) for k, v in a.items() if k.startswith("since:")]
            marks.append(float(a.get("pt") or a.get("idle") or now))
            out.append(
                AgentLive(
                    agent_id=aid,
                    presence=Presence(a.get("pr", "not_ready")),
                    reason=a.get("rs") or None,
                    state=st,
                    tasks=tuple(a.get("tasks", ())),
                    loads={
                        k[3:]: int(v) for k, v in a.items() if k.startswith("ld:") and int(v) > 0
                    },
                    time_in_state_s=max(0.0, now - max(marks)),
                )
            )
        return out

    async def agent_work(self, agent_id: str) -> AgentWork:
        """The agent's offers and work in hand with their customer context, and wrap-ups."""
        raw = await self.store.read_agent_work(agent_id)
        a = raw["agent"]
        items = []
        for tid, t in sorted(raw["tasks"].items(), key=lambda kv: float(kv[1].get("ot") or 0)):
            items.append(
                WorkItem(
                    task_id=tid,
                    channel=t.get("ch", ""),
                    queue_id=t.get("q", ""),
                    state=t.get("st", ""),
                    priority=float(t.get("prio") or 0),
                    enqueued_at=float(t.get("enq") or 0),
                    offered_at=float(t["ot"]) if t.get("ot") else None,
                    offer_deadline=float(t["ou"]) if t.get("ou") else None,
                    customer=CustomerContext.model_validate(json.loads(t.get("cust") or "{}")),
                    attributes=json.loads(t.get("attrs") or "{}"),
                )
            )
        wraps = tuple(
            WrapItem(
                task_id=w["task"],
                channel=w["channel"],
                until=None if w["until"] is None else float(w["until"]),
            )
            for w in raw["wraps"]
        )
        if not a:
            return AgentWork(
                agent_id=agent_id,
                logged_in=False,
                presence=Presence.OFFLINE,
                reason=None,
                state="offline",
                tasks=tuple(items),
                wrapups=wraps,
            )
        return AgentWork(
            agent_id=agent_id,
            logged_in=True,
            presence=Presence(a.get("pr", "not_ready")),
            reason=a.get("rs") or None,
            state=_agent_state(a | {"wraps": len(wraps)}),
            tasks=tuple(items),
            wrapups=wraps,
        )

    # ---------------------------------------------------------------- durability
    async def start(
        self,
        queues: Sequence[QueueConfig],
        reload: Callable[[], Awaitable[Sequence[QueueConfig]]] | None = None,
    ) -> dict[str, int] | None:
        """At process start: refill Redis from the durable store when it lost the routing
        state (e.g. it restarted empty), then apply the queue configuration.

        ``reload`` gives the queues as stored now; a later refill uses it, so that changes
        made since (by any process) are not undone by this process's copy.
        """
        self._reload_queues = reload
        for q in queues:
            self._queues[q.id] = q
        rebuilt = None
        if not await self.store.is_live():
            rebuilt = await self.recover(lost=False)
        for q in queues:
            await self.put_queue(q)
        return rebuilt

    async def recover(self, wait_s: float = 30.0, *, lost: bool = True) -> dict[str, int] | None:
        """Refill a Redis that lost the routing state, then mark it complete.

        One process does it (a claim with a time limit); the others wait until it is done,
        or take over when its claim runs out. Returns the counts when this process did it.
        State written meanwhile (an agent who logged in) is kept: the rebuild merges.
        """
        owner = f"{os.getpid()}-{id(self):x}"
        deadline = asyncio.get_running_loop().time() + wait_s
        while not await self.store.is_live():
            if await self.store.claim_rebuild(owner, wait_s):
                try:
                    if await self.store.is_live():
                        return None
                    counts = await self._refill()
                    await self.store.mark_live()
                    if lost:
                        log.warning("routing state was lost and is rebuilt: %s", counts)
                    else:
                        log.info("routing state filled from the durable store: %s", counts)
                    return counts
                finally:
                    await self.store.release_rebuild(owner)
            if asyncio.get_running_loop().time() > deadline:
                raise RoutingError(
                    f"another process has been rebuilding the routing state for over {wait_s:g} s"
                )
            await asyncio.sleep(0.1)
        return None

    async def _refill(self) -> dict[str, int]:
        if self._reload_queues is not None:
            self._queues = {q.id: q for q in await self._reload_queues()}
        if self.durable is not None:
            return await self.rebuild(merge=True)
        now = self.clock.now()
        for q in self._queues.values():
            await self.store.execute("put_queue", now, {"queue": queue_doc(q)})
        return {"queues": len(self._queues), "agents": 0, "tasks": 0}

    async def rebuild(
        self, durable: RoutingDurableStore | None = None, *, merge: bool = False
    ) -> dict[str, int]:
        """Refill an empty Redis from the durable store: queues, agents, open tasks.

        Offers in flight are not durable: their tasks come back waiting in their original
        place (enqueued-at is kept); work in hand comes back assigned to its agent. With
        ``merge``, over what was written since the state was lost: agents already there
        keep their work, tasks already there are left as they are.
        """
        source = durable or self.durable
        if source is None:
            raise InvalidInput("rebuild needs a durable store")
        if not merge and not await self.store.is_empty():
            raise Conflict("routing state is not empty; refusing to rebuild over it")
        now = self.clock.now()
        for q in self._queues.values():
            await self.store.execute("put_queue", now, {"queue": queue_doc(q)})
        agents = await source.list_agents()
        for doc in agents:
            cfg = {k: doc[k] for k in ("id", "skills", "capacity", "blocks")}
            await self.store.execute("put_agent", now, {"agent": cfg | {"presence": "not_ready"}})
        tasks = await source.list_tasks()
        docs = []
        for t in tasks:
            doc = {k: v for k, v in t.items() if k not in ("state", "agent_id")}
            doc["restore"] = True
            if t.get("state") == "assigned" and t.get("agent_id"):
                doc["assigned_to"] = t["agent_id"]
            docs.append(doc)
        if docs:
            for res in await self.store.execute("enqueue", now, {"tasks": docs}):
                if "err" in res and not (merge and res["err"] == "task_exists"):
                    log.warning("rebuild: task %s not restored: %s", res.get("task"), res["err"])
        for doc in agents:
            presence = doc.get("presence", "not_ready")
            if presence != "not_ready" or doc.get("reason"):
                await self.store.execute(
                    "presence",
                    now,
                    {"agent": doc["id"], "presence": presence, "reason": doc.get("reason") or None},
                )
        log.info("rebuilt routing state: %d agents, %d tasks", len(agents), len(docs))
        return {"queues": len(self._queues), "agents": len(agents), "tasks": len(docs)}


def _serves(agent: Mapping[str, Any], cfg: Mapping[str, Any]) -> bool:
    import json

    skills = json.loads(agent.get("sk", "{}"))
    caps = json.loads(agent.get("cap", "{}"))
    if not any(int(caps.get(ch, 0)) > 0 for ch in cfg.get("channels", [])):
        return False
    return all(s in skills for s in cfg.get("skills", {}))


def _agent_state(agent: Mapping[str, Any]) -> str:
    if int(agent.get("wraps", 0)) > 0:
        return "wrap_up"
    if any(k.startswith("ld:") and int(v) > 0 for k, v in agent.items()):
        return "busy"
    if agent.get("pr") == "available":
        return "available"
    return "not_ready"


__all__ = ["MaxWaitAction", "RoutingService", "agent_doc", "queue_doc", "routing_score"]
