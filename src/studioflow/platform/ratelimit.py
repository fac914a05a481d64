"""Rate limits (the ``limits`` library) and atomic counters, in memory or on Redis.

Limits use the sliding-window-counter strategy: O(1) per hit on Redis and no burst of twice
the limit at a window edge. Counters back usage quotas: ``incr_within`` adds only if the
total stays within a limit, atomically, so two racing requests cannot both pass the edge.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window has room again

    @property
    def headers(self) -> Mapping[str, str]:
        """The RateLimit-* headers of API.md (and Retry-After when refused)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_after))
        return headers


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(storage)

    @classmethod
    def in_memory(cls) -> RateLimiter:
        return cls(MemoryStorage())

    @classmethod
    def on_redis(cls, url: str, *, prefix: str) -> RateLimiter:
        uri = "async+" + url
        return cls(RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:limits"))

    async def hit(self, limit: str | RateLimitItem, *key: str, cost: int = 1) -> RateLimitResult:
        """Count one use (``cost`` units) against ``limit`` (e.g. ``"5/15minutes"``) for ``key``."""
        item = parse(limit) if isinstance(limit, str) else limit
        allowed = await self.strategy.hit(item, *key, cost=cost)
        stats = await self.strategy.get_window_stats(item, *key)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after=reset_after,
        )

    async def peek(self, limit: str | RateLimitItem, *key: str) -> RateLimitResult:
        item = parse(limit) if isinstance(limit, str) else limit
        allowed = await self.strategy.test(item, *key)
        stats = await self.strategy.get_window_stats(item, *key)
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after=max(0, math.ceil(stats.reset_time - time.time())),
        )

    async def reset(self, limit: str | RateLimitItem, *key: str) -> None:
        item = parse(limit) if isinstance(limit, str) else limit
        await self.strategy.clear(item, *key)

    async def ping(self) -> None:
        if not await self.storage.check():
            raise ConnectionError("rate limit storage does not answer")


class Counters(Protocol):
    async def incr(self, key: str, amount: int = 1, *, ttl: int | None = None) -> int: ...

    async def incr_within(
        self, key: str, amount: int, *, limit: int, ttl: int | None = None
    ) -> tuple[bool, int]: ...

    async def get(self, key: str) -> int: ...

    async def set(self, key: str, value: int, *, ttl: int | None = None) -> None: ...

    async def reset(self, key: str) -> None: ...


class MemoryCounters:
    """Counters for one process. The event loop runs one coroutine at a time and none of
    these methods awaits, so each call is atomic without a lock."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float | None]] = {}

    def _current(self, key: str) -> tuple[int, float | None]:
        value, expires = self._values.get(key, (0, None))
        if expires is not None and expires <= time.monotonic():
            self._values.pop(key, None)
            return 0, None
        return value, expires

    def _set(self, key: str, value: int, expires: float | None, ttl: int | None) -> None:
        if expires is None and ttl is not None:
            expires = time.monotonic() + ttl
        self._values[key] = (value, expires)

    async def incr(self, key: str, amount: int = 1, *, ttl: int | None = None) -> int:
        value, expires = self._current(key)
        value += amount
        self._set(key, value, expires, ttl)
        return value

    async def incr_within(
        self, key: str, amount: int, *, limit: int, ttl: int | None = None
    ) -> tuple[bool, int]:
        value, expires = self._current(key)
        if value + amount > limit:
            return False, value
        self._set(key, value + amount, expires, ttl)
        return True, value + amount

    async def get(self, key: str) -> int:
        return self._current(key)[0]

    async def set(self, key: str, value: int, *, ttl: int | None = None) -> None:
        self._values[key] = (value, None if ttl is None else time.monotonic() + ttl)

    async def reset(self, key: str) -> None:
        self._values.pop(key, None)


# KEYS[1] counter; ARGV amount, limit, ttl (0 = none). The TTL is set when the key is created
# so a window's counter expires on its own schedule and later increments do not extend it.
_INCR_WITHIN = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if current + amount > tonumber(ARGV[2]) then
  return {0, current}
end
local value = redis.call('INCRBY', KEYS[1], amount)
if value == amount and tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return {1, value}
"""

_INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == tonumber(ARGV[1]) and tonumber(ARGV[2]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return value
"""


class RedisCounters:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:counters:"
        self._incr_within = redis.register_script(_INCR_WITHIN)
        self._incr = redis.register_script(_INCR)

    async def incr(self, key: str, amount: int = 1, *, ttl: int | None = None) -> int:
        value = await self._incr(keys=[self.prefix + key], args=[amount, ttl or 0])
        return int(value)

    async def incr_within(
        self, key: str, amount: int, *, limit: int, ttl: int | None = None
    ) -> tuple[bool, int]:
        allowed, value = await self._incr_within(
            keys=[self.prefix + key], args=[amount, limit, ttl or 0]
        )
        return bool(allowed), int(value)

    async def get(self, key: str) -> int:
        value = await self.redis.get(self.prefix + key)
        return int(value) if value is not None else 0

    async def set(self, key: str, value: int, *, ttl: int | None = None) -> None:
        await self.redis.set(self.prefix + key, value, ex=ttl)

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)
