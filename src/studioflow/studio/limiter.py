"""The provider rate limit: GCRA spacing per provider key, shared by every worker process.

Each call reserves the next free slot (the "theoretical arrival time" moves on by one
interval) and waits until its slot comes. Calls are spread evenly — 15 a minute means one
every 4 s — rather than bursting and then hitting the provider's own 429. With Redis the slot
is taken by one Lua script using Redis's clock, so any number of processes share one schedule.
"""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local next_tat = start + interval
redis.call('SET', KEYS[1], string.format('%.6f', next_tat),
  'PX', math.ceil((next_tat - now) * 1000) + 1000)
return string.format('%.6f', start - now)
"""


# Calls are spaced this much wider than the nominal rate: a call runs a little after its
# slot (event loop, network), and without the margin one late call followed by an on-time one
# let a 60-second window see 61 calls at 60/min (measured: bench/README.md).
SPACING_MARGIN = 1.02


class ProviderLimiter:
    def __init__(self, redis: Redis | None, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:provider-limit:"
        self._script = redis.register_script(_RESERVE) if redis is not None else None
        self._tat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def reserve(self, key: str, per_minute: int) -> float:
        """Take the next slot for ``key``; the seconds to wait before using it."""
        interval = 60.0 / per_minute * SPACING_MARGIN
        if self._script is not None:
            wait = await self._script(keys=[self.prefix + key], args=[f"{interval:.6f}"])
            return max(0.0, float(wait))
        async with self._lock:
            now = time.monotonic()
            start = max(self._tat.get(key, 0.0), now)
            self._tat[key] = start + interval
            return start - now

    async def acquire(self, key: str, per_minute: int) -> None:
        """Wait for our slot."""
        wait = await self.reserve(key, per_minute)
        if wait > 0:
            await asyncio.sleep(wait)


_memory: dict[int, ProviderLimiter] = {}


def limiter_for(redis: Redis | None, prefix: str) -> ProviderLimiter:
    """One limiter per process (in memory) or per Redis client (shared through Redis)."""
    if redis is not None:
        return ProviderLimiter(redis, prefix=prefix)
    # Embedded: one schedule for the whole process, whichever platform object asks.
    return _memory.setdefault(0, ProviderLimiter(None, prefix=prefix))
