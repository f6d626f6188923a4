"""Domain events on a Redis Stream: publish with XADD, consume with a consumer group.

Delivery is at least once: a consumer reads with XREADGROUP, acknowledges with XACK after
its sink has stored the batch, re-reads its own unacknowledged entries when it restarts,
and takes over entries a dead consumer left behind with XAUTOCLAIM.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from contactcore.adapters.redis.keys import Keys
from contactcore.core.events import DomainEvent

log = logging.getLogger(__name__)


def parse_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> tuple[str, DomainEvent]:
    """Events written by the Lua scripts carry no id: the stream entry id is their id."""
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    data: dict[str, Any] = json.loads(fields[b"e"])
    data.setdefault("id", f"ev_{eid}")
    if data.get("payload") == []:
        data["payload"] = {}
    return eid, DomainEvent.model_validate(data)


class RedisStreamBus:
    """Implements ``core.ports.EventBus``."""

    def __init__(self, client: aioredis.Redis, prefix: str, maxlen: int = 1_000_000) -> None:
        self.client = client
        self.stream = Keys(prefix).events
        self.maxlen = maxlen

    async def publish(self, event: DomainEvent) -> None:
        await self.client.xadd(
            self.stream, {"e": event.model_dump_json()}, maxlen=self.maxlen, approximate=True
        )


class RedisStreamSource:
    """Implements ``acd.ports.EventSource`` for one consumer of one group."""

    def __init__(self, client: aioredis.Redis, prefix: str, group: str, consumer: str) -> None:
        self.client = client
        self.stream = Keys(prefix).events
        self.group = group
        self.consumer = consumer

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _entries(self, reply: Any) -> list[tuple[str, DomainEvent]]:
        out: list[tuple[str, DomainEvent]] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                if fields:  # a trimmed entry still pending comes back without fields
                    out.append(parse_entry(entry_id, fields))
        return out

    async def read_pending(self, count: int) -> list[tuple[str, DomainEvent]]:
        reply = await self.client.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=count
        )
        return self._entries(reply)

    async def read_new(self, count: int, block_ms: int) -> list[tuple[str, DomainEvent]]:
        reply = await self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return self._entries(reply)

    async def claim_stale(self, min_idle_ms: int, count: int) -> list[tuple[str, DomainEvent]]:
        reply = await self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, start_id="0-0", count=count
        )
        entries = reply[1]
        return [parse_entry(eid, fields) for eid, fields in entries if fields]

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.client.xack(self.stream, self.group, *entry_ids)


class RedisStreamTail:
    """Implements ``core.ports.EventFeed``: every new event, for this process only.

    No consumer group: each process sees all events from the moment it starts and picks
    those of the work it owns (e.g. the offers for the calls it carries).
    """

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.stream = Keys(prefix).events
        self._last: str | None = None

    async def pin(self) -> str:
        """Fix the starting point now (once): every event added after this call is read,
        also those added before the first read. Call it before the work whose events
        matter can start (e.g. before taking calls)."""
        if self._last is None:
            newest: Any = await self.client.xrevrange(self.stream, count=1)
            self._last = newest[0][0].decode() if newest else "0-0"
        return self._last

    async def read(self, count: int, block_ms: int) -> list[DomainEvent]:
        # Pinned once; "$" on every call would miss what arrives between two reads.
        last = await self.pin()
        reply: Any = await self.client.xread({self.stream: last}, count=count, block=block_ms)
        out: list[DomainEvent] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                eid, event = parse_entry(entry_id, fields)
                self._last = eid
                out.append(event)
        return out
