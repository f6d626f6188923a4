"""The live routing state in Redis: one Lua function library, one atomic call per command."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from contactcore.adapters.redis.keys import Keys, lua_prelude

log = logging.getLogger(__name__)

DEFAULT_STREAM_MAXLEN = 1_000_000


LIBRARY_PREFIX = "contactcore_acd_"


def _script_text() -> str:
    body = resources.files("contactcore.adapters.redis").joinpath("acd.lua").read_text("utf-8")
    # the key helpers must follow the declaration of P, the first line of code
    head, marker, rest = body.partition("local P, cmd, now, args, STREAM_MAX, NOW\n")
    return head + marker + lua_prelude() + rest


def library(code: str) -> tuple[str, str]:
    """(function name, library source) for this code.

    Functions are global to a Redis server, so the name carries a digest of the code:
    processes running different versions of the engine on one Redis never replace each
    other's function, and a process always calls the code it was built with.
    """
    name = LIBRARY_PREFIX + hashlib.sha1(code.encode()).hexdigest()[:16]
    return name, f"#!lua name={name}\nlocal FUNCTION_NAME = '{name}'\n{code}"


_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


def _missing(exc: BaseException) -> bool:
    # a Redis that restarted empty (or never saw this version) has no such function
    return isinstance(exc, ResponseError) and "function not found" in str(exc).lower()


def _listify(value: Any) -> Any:
    # Lua's cjson encodes an empty list as {}
    return [] if value == {} else value


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisRoutingStore:
    """Implements ``acd.ports.RoutingStore``."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, stream_maxlen: int = DEFAULT_STREAM_MAXLEN
    ) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.stream_maxlen = stream_maxlen
        self.use_code(_script_text())

    def use_code(self, code: str) -> None:
        """Run this Lua code (the engine's, or in tests a variant of it)."""
        self.code = code
        self.function, self.library = library(code)

    async def load(self) -> None:
        await self.client.function_load(self.library, replace=True)

    def _argv(self, command: str, now: float, args: Mapping[str, Any]) -> list[Any]:
        return [command, repr(float(now)), json.dumps(args), self.stream_maxlen]

    @staticmethod
    def _decode(raw: Any) -> Any:
        out = json.loads(raw)
        if isinstance(out, dict) and "offers" in out:
            out["offers"] = _listify(out["offers"])
        return _listify(out)

    async def execute(self, command: str, now: float, args: Mapping[str, Any]) -> Any:
        argv = self._argv(command, now, args)
        try:
            raw = await self.client.fcall(self.function, 1, self.keys.base, *argv)
        except ResponseError as exc:
            if not _missing(exc):
                raise
            await self.load()  # the call did not run: run it now
            raw = await self.client.fcall(self.function, 1, self.keys.base, *argv)
        return self._decode(raw)

    async def execute_many(
        self, calls: Sequence[tuple[str, float, Mapping[str, Any]]]
    ) -> list[Any]:
        """Several commands in one round trip (each still its own atomic function call).

        Calls that find the function missing (a restarted Redis) are sent again once it
        is loaded; the others ran exactly once.
        """
        if not calls:
            return []
        argvs = [self._argv(command, now, args) for command, now, args in calls]
        raws: list[Any] = [None] * len(argvs)
        todo = list(range(len(argvs)))
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            for i in todo:
                pipe.fcall(self.function, 1, self.keys.base, *argvs[i])
            results = await pipe.execute(raise_on_error=False)
            missing = []
            for i, res in zip(todo, results, strict=True):
                if _missing(res) and attempt == 0:
                    missing.append(i)
                elif isinstance(res, Exception):
                    raise res
                else:
                    raws[i] = res
            if not missing:
                break
            await self.load()
            todo = missing
        return [self._decode(r) for r in raws]

    async def is_empty(self) -> bool:
        k = self.keys
        n = await self.client.exists(k.key("queues"), k.key("agents"), k.key("tasks"))
        return int(n) == 0

    async def is_live(self) -> bool:
        return bool(await self.client.exists(self.keys.key("live")))

    async def mark_live(self) -> None:
        await self.client.set(self.keys.key("live"), "1")

    async def claim_rebuild(self, owner: str, ttl_s: float) -> bool:
        key = self.keys.key("rebuild_lock")
        return bool(await self.client.set(key, owner, nx=True, px=max(1, int(ttl_s * 1000))))

    async def release_rebuild(self, owner: str) -> None:
        # only the owner's claim: one that expired and was taken by another stays
        await self.client.eval(_RELEASE, 1, self.keys.key("rebuild_lock"), owner)

    async def read_agent_work(self, agent_id: str) -> dict[str, Any]:
        """One agent's hash, the hashes of its tasks and its wrap-ups, read in one MULTI."""
        k = self.keys
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(k.key("agent", agent_id))
        pipe.smembers(k.key("agent_tasks", agent_id))
        pipe.smembers(k.key("agent_wraps", agent_id))
        agent_raw, task_ids, wrap_members = await pipe.execute()
        tids = sorted(_s(t) for t in task_ids)
        members = sorted(_s(m) for m in wrap_members)
        pipe = self.client.pipeline(transaction=True)
        for t in tids:
            pipe.hgetall(k.key("task", t))
        for m in members:
            pipe.zscore(k.key("wraps"), m)
        res = await pipe.execute() if tids or members else []
        tasks = {
            t: {_s(f): _s(v) for f, v in h.items()}
            for t, h in zip(tids, res[: len(tids)], strict=True)
            if h
        }
        wraps = []
        for m, until in zip(members, res[len(tids) :], strict=True):
            _agent, task, channel = [*m.split("|"), "", ""][:3]
            wraps.append({"task": task, "channel": channel, "until": until})
        agent = {_s(f): _s(v) for f, v in agent_raw.items()}
        return {"agent": agent, "tasks": tasks, "wraps": wraps}

    async def read_state(self) -> dict[str, Any]:
        """Snapshot for live numbers. The waiting sets, EWT inputs and agents are read in
        one MULTI, so they agree with each other; the queue and agent ids before it and the
        waiting tasks' enqueued-at after it (a queue or agent added in between shows at the
        next read, a task gone in between has no age)."""
        k = self.keys
        queues_raw = {_s(q): _s(v) for q, v in (await self.client.hgetall(k.key("queues"))).items()}
        agent_ids = [_s(a) for a in await self.client.smembers(k.key("agents"))]
        queue_ids = list(queues_raw)
        pipe = self.client.pipeline(transaction=True)
        for q in queue_ids:
            pipe.zrange(k.key("queue_wait", q), 0, -1)
            pipe.zrange(k.key("queue_enq", q), 0, 0, withscores=True)
            pipe.lrange(k.key("departures", q), 0, 19)  # the list is trimmed lazily
            pipe.lrange(k.key("handle_times", q), 0, 49)
        for a in agent_ids:
            pipe.hgetall(k.key("agent", a))
            pipe.scard(k.key("agent_wraps", a))
            pipe.smembers(k.key("agent_tasks", a))
        res = await pipe.execute()
        queues: dict[str, Any] = {}
        i = 0
        for q in queue_ids:
            waiting, oldest, deps, ahts = res[i : i + 4]
            i += 4
            queues[q] = {
                "config": json.loads(queues_raw[q]),
                "waiting": [t.decode() for t in waiting],
                "oldest_enqueued_at": oldest[0][1] if oldest else None,
                "departures": [float(d) for d in deps],
                "handle_times": [float(h) for h in ahts],
            }
        agents: dict[str, Any] = {}
        for a in agent_ids:
            h, wraps, work = res[i : i + 3]
            i += 3
            if h:
                agents[a] = {kk.decode(): v.decode() for kk, v in h.items()} | {
                    "wraps": wraps,
                    "tasks": sorted(t.decode() for t in work),
                }
        enq: dict[str, float] = {}
        tids = [t for q in queues.values() for t in q["waiting"]]
        if tids:
            pipe = self.client.pipeline(transaction=False)
            for t in tids:
                pipe.hget(k.key("task", t), "enq")
            for t, v in zip(tids, await pipe.execute(), strict=True):
                if v is not None:
                    enq[t] = float(v)
        return {"queues": queues, "agents": agents, "enqueued_at": enq}
