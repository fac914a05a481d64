"""Rate limits and counters on both backends (memory and Redis)."""

from __future__ import annotations

import asyncio
import uuid

from studioflow.platform.runtime import Platform


async def test_limit_allows_then_refuses_with_headers(platform: Platform) -> None:
    key = f"ip:{uuid.uuid4()}"
    results = [await platform.limiter.hit("5/15minutes", "auth", key) for _ in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]
    assert [r.remaining for r in results[:5]] == [4, 3, 2, 1, 0]
    refused = results[-1]
    assert refused.headers["RateLimit-Limit"] == "5"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60


async def test_limits_are_per_key(platform: Platform) -> None:
    a, b = f"a:{uuid.uuid4()}", f"b:{uuid.uuid4()}"
    assert (await platform.limiter.hit("1/minute", a)).allowed
    assert not (await platform.limiter.hit("1/minute", a)).allowed
    assert (await platform.limiter.hit("1/minute", b)).allowed


async def test_reset_clears_a_limit(platform: Platform) -> None:
    key = f"r:{uuid.uuid4()}"
    await platform.limiter.hit("1/hour", key)
    assert not (await platform.limiter.peek("1/hour", key)).allowed
    await platform.limiter.reset("1/hour", key)
    assert (await platform.limiter.peek("1/hour", key)).allowed


async def test_counters_count(platform: Platform) -> None:
    key = f"uploads:{uuid.uuid4()}"
    assert await platform.counters.get(key) == 0
    assert await platform.counters.incr(key) == 1
    assert await platform.counters.incr(key, 5, ttl=60) == 6
    assert await platform.counters.get(key) == 6
    await platform.counters.reset(key)
    assert await platform.counters.get(key) == 0


async def test_racing_increments_never_pass_the_limit(platform: Platform) -> None:
    key = f"quota:{uuid.uuid4()}"
    outcomes = await asyncio.gather(
        *(platform.counters.incr_within(key, 1, limit=10, ttl=3600) for _ in range(50))
    )
    assert sum(1 for allowed, _ in outcomes if allowed) == 10
    assert await platform.counters.get(key) == 10
    allowed, value = await platform.counters.incr_within(key, 1, limit=10)
    assert (allowed, value) == (False, 10)


async def test_limiter_storage_answers(platform: Platform) -> None:
    await platform.limiter.ping()
