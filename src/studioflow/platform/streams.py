"""Append-only event buffers that a job drains in batches: in memory, or a Redis stream.

Producers never wait on the database. Draining is at-least-once: a batch is acknowledged
only after its consumer committed it, and a Redis consumer that died holding a batch has it
claimed by the next one after a minute.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from typing import Any, Protocol

from redis.asyncio import Redis

BUFFER_LIMIT = 100_000
# A batch a drain has held this long unacknowledged is taken to be a dead drain's.
CLAIM_AFTER_MS = 60_000


class EventStream(Protocol):
    async def record(self, event: dict[str, Any]) -> None: ...

    async def record_many(self, events: list[dict[str, Any]]) -> None: ...

    async def drain(self, limit: int) -> tuple[list[dict[str, Any]], Any]: ...

    async def acknowledge(self, token: Any) -> None: ...


class MemoryStream:
    """One process's buffer (embedded). Bounded: past the limit the oldest events go."""

    def __init__(self) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=BUFFER_LIMIT)

    async def record(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    async def record_many(self, events: list[dict[str, Any]]) -> None:
        self._events.extend(events)

    async def drain(self, limit: int) -> tuple[list[dict[str, Any]], Any]:
        return [self._events.popleft() for _ in range(min(limit, len(self._events)))], None

    async def acknowledge(self, token: Any) -> None:
        return None


class RedisStream:
    GROUP = "drainers"

    def __init__(self, redis: Redis, *, name: str, claim_after_ms: int = CLAIM_AFTER_MS) -> None:
        self.redis = redis
        self.stream = name
        self.claim_after_ms = claim_after_ms
        self._group_ready = False

    async def record(self, event: dict[str, Any]) -> None:
        # Approximate trimming keeps the stream bounded if nobody drains it for a while.
        await self.redis.xadd(
            self.stream, {"e": json.dumps(event)}, maxlen=BUFFER_LIMIT, approximate=True
        )

    async def record_many(self, events: list[dict[str, Any]]) -> None:
        # One round trip for the lot (no MULTI: each append stands on its own).
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(
                    self.stream, {"e": json.dumps(event)}, maxlen=BUFFER_LIMIT, approximate=True
                )
            await pipe.execute()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.GROUP, id="0", mkstream=True)
        except Exception as error:
            if "BUSYGROUP" not in str(error):  # the group exists already: fine
                raise
        self._group_ready = True

    async def drain(self, limit: int) -> tuple[list[dict[str, Any]], Any]:
        await self._ensure_group()
        await self._forget_idle_consumers()
        consumer = f"drainer-{uuid.uuid4().hex[:8]}"
        # First entries a dead consumer left unacknowledged for a minute, then new ones.
        claimed = await self.redis.xautoclaim(
            self.stream, self.GROUP, consumer, min_idle_time=self.claim_after_ms, count=limit
        )
        entries = list(claimed[1]) if claimed else []
        if len(entries) < limit:
            fresh = await self.redis.xreadgroup(
                self.GROUP, consumer, {self.stream: ">"}, count=limit - len(entries)
            )
            for _, items in fresh or []:
                entries.extend(items)
        if not entries:
            await self.redis.xgroup_delconsumer(self.stream, self.GROUP, consumer)
            return [], None
        events, ids = [], []
        for entry_id, fields in entries:
            ids.append(entry_id)
            raw = fields.get(b"e") or fields.get("e")
            if raw:
                events.append(json.loads(raw))
        return events, (consumer, ids)

    async def acknowledge(self, token: Any) -> None:
        if not token:
            return
        consumer, ids = token
        await self.redis.xack(self.stream, self.GROUP, *ids)
        await self.redis.xdel(self.stream, *ids)
        # Every drain is a consumer of its own; once its batch is acknowledged it holds
        # nothing, and left in place the group would gain one a minute, for ever.
        await self.redis.xgroup_delconsumer(self.stream, self.GROUP, consumer)

    async def _forget_idle_consumers(self) -> None:
        """Drop consumers of drains that died: the next drain claimed what they held, so they
        hold nothing (deleting a consumer drops its pending entries: only empty ones go)."""
        for info in await self.redis.xinfo_consumers(self.stream, self.GROUP):
            fields = {_text(key): value for key, value in info.items()}
            if int(fields["pending"]) == 0 and int(fields["idle"]) > self.claim_after_ms:
                await self.redis.xgroup_delconsumer(self.stream, self.GROUP, _text(fields["name"]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
