"""Every Redis key name of contactcore, in one module.

All keys live under ``<prefix>:{acd}:`` where the prefix is ``settings.redis.key_prefix``.
The ``{acd}`` hash tag puts every routing key in one Redis Cluster slot, which is what
lets one Lua script touch them all atomically. The Lua scripts get the same names
through :func:`lua_prelude`, generated from the table below, so a key is spelt once.
"""

from __future__ import annotations

import re

HASH_TAG = "{acd}"

# name -> template; ``{0}``, ``{1}``... are the variable parts.
TEMPLATES: dict[str, str] = {
    "queues": "queues",  # hash: queue id -> queue config JSON
    # zset: timers of waiting tasks ("o|<task>" overflow, "m|<task>" maximum wait) by when due
    "timers": "timers",
    "timers_armed": "timers:armed",  # string: every waiting task has its timers (see tick)
    "queue_wait": "q:{0}:w",  # zset: waiting task ids by routing score (aged priority)
    "queue_enq": "q:{0}:e",  # zset: waiting task ids by enqueued-at (longest wait, overflow)
    "departures": "q:{0}:dep",  # list: recent times tasks left the head of the queue (EWT)
    "handle_times": "q:{0}:aht",  # list: recent handle times (EWT fallback)
    "task": "task:{0}",  # hash: one task
    "tasks": "tasks",  # set: ids of all open tasks (waiting, offered, assigned)
    "rejected": "task:{0}:rej",  # zset: agents who rejected or missed this task, by when
    "agent": "agent:{0}",  # hash: one agent (presence, skills, capacities, loads)
    "agents": "agents",  # set: ids of agents known to the router (logged in)
    "agent_tasks": "agent:{0}:tasks",  # set: task ids offered to or assigned to the agent
    "agent_wraps": "agent:{0}:wrap",  # set: wrap-up entries of the agent
    "version": "ver",  # string: stamp of the last engine call (its in-memory index is valid)
    "live": "live",  # string: the routing state is complete (set at start and after a rebuild)
    "rebuild_lock": "rebuild",  # string: the process refilling an emptied Redis, with a TTL
    "offers": "offers",  # zset: offered task ids by offer deadline (RONA)
    "wraps": "wraps",  # zset: "agent|task|channel" by wrap-up end
    "events": "events",  # stream: domain events
}


class Keys:
    """Key names for one prefix."""

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:{HASH_TAG}"

    def key(self, name: str, *parts: str) -> str:
        return f"{self.base}:{TEMPLATES[name].format(*parts)}"

    @property
    def events(self) -> str:
        return self.key("events")

    @property
    def all_pattern(self) -> str:
        """Glob matching every routing key under this prefix (used by rebuild checks)."""
        return f"{self.base}:*"


def lua_prelude() -> str:
    """Lua functions ``k_<name>(...)`` building the same key names from ``P`` (the base)."""
    lines = []
    for name, template in TEMPLATES.items():
        pieces = re.split(r"\{(\d)\}", template)
        count = len(pieces) // 2
        params = ", ".join(f"a{i}" for i in range(count))
        expr = ["P", "':'"]
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                if piece:
                    expr.append(repr(piece))
            else:
                expr.append(f"a{piece}")
        body = " .. ".join(expr)
        lines.append(f"local function k_{name}({params}) return {body} end")
    return "\n".join(lines) + "\n"
