"""Live event bus behind Server-Sent Events: in-process embedded, Redis pub/sub at scale.

The bus is for live delivery only. Anything a client must not miss is also written to the
database, from which an SSE endpoint replays what came after ``Last-Event-ID``.

At scale one Redis pub/sub connection per process carries every channel (pattern subscribe
on the prefix) and messages are routed to local subscribers here, so a thousand open SSE
streams cost one Redis connection, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("studioflow.events")

SUBSCRIBER_BUFFER = 1000


class Subscription:
    """Messages of one channel for one consumer; slow consumers lose the oldest messages."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self.dropped = 0

    def deliver(self, message: dict[str, Any]) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    def drain(self) -> list[dict[str, Any]]:
        """What has arrived so far, without waiting."""
        messages = []
        while not self._queue.empty():
            messages.append(self._queue.get_nowait())
        return messages

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._queue.get()


class EventBus(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class _LocalRouter:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def route(self, channel: str, message: dict[str, Any]) -> None:
        for subscription in list(self.subscribers.get(channel, ())):
            subscription.deliver(message)

    def add(self, subscription: Subscription) -> None:
        self.subscribers[subscription.channel].add(subscription)

    def remove(self, subscription: Subscription) -> None:
        subscribers = self.subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self.subscribers[subscription.channel]


class MemoryEventBus:
    def __init__(self) -> None:
        self._router = _LocalRouter()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        # A JSON round trip so that both buses hand subscribers the same plain data.
        self._router.route(channel, json.loads(json.dumps(message)))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        self._router.add(subscription)
        try:
            yield subscription
        finally:
            self._router.remove(subscription)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisEventBus:
    """One pattern subscription per process, routed to local subscribers.

    ``listen`` narrows the patterns (globs, as Redis matches them) for processes that need only
    some channels: a worker listens to its executions' control channels and no longer
    receives, decodes and drops every event of every execution (a cost that grew with the
    whole cluster's load). Subscribing outside it is a programming error, so it raises.
    """

    def __init__(self, redis: Redis, *, prefix: str, listen: str | tuple[str, ...] = "*") -> None:
        self.redis = redis
        self.prefix = f"{prefix}:events:"
        self.listen = (listen,) if isinstance(listen, str) else listen
        self._router = _LocalRouter()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.redis.publish(self.prefix + channel, json.dumps(message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        if not any(fnmatch.fnmatchcase(channel, pattern) for pattern in self.listen):
            raise ValueError(f"this process listens to {self.listen!r} only, not {channel!r}")
        await self._ensure_reader()
        subscription = Subscription(channel)
        self._router.add(subscription)
        try:
            yield subscription
        finally:
            self._router.remove(subscription)

    async def _ensure_reader(self) -> None:
        async with self._lock:
            if self._reader is None or self._reader.done():
                self._ready.clear()
                self._reader = asyncio.create_task(self._read(), name="events-reader")
        await self._ready.wait()

    async def _read(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(*(self.prefix + pattern for pattern in self.listen))
                self._ready.set()
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    try:
                        payload = json.loads(message["data"])
                    except (TypeError, ValueError):
                        log.warning("events.bad_message", channel=channel)
                        continue
                    self._router.route(channel[len(self.prefix) :], payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis restarted or the network blinked: reconnect; SSE clients resume
                # from the database with Last-Event-ID, so a gap here loses nothing.
                log.exception("events.reader_failed")
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        await self.redis.ping()  # type: ignore[misc]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
