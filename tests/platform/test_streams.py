"""Event buffers drained in batches: at-least-once, bounded, and (Redis) no consumer left behind."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from studioflow.platform.runtime import Platform
from studioflow.platform.streams import RedisStream


def redis_stream(platform: Platform, **options: int) -> RedisStream:
    if platform.redis is None:
        pytest.skip("Redis streams run at scale")
    name = f"{platform.settings.redis_prefix}:t-{uuid.uuid4()}"
    return RedisStream(platform.redis, name=name, **options)


async def consumers(stream: RedisStream) -> list[dict[str, object]]:
    found: list[dict[str, object]] = await stream.redis.xinfo_consumers(stream.stream, stream.GROUP)
    return found


async def test_drains_deliver_each_event_once_and_leave_no_consumer(platform: Platform) -> None:
    """Each drain was a consumer of its own that stayed for ever: 31 after 25 minutes
    (issue 12, item 18)."""
    stream = redis_stream(platform)
    for n in range(25):
        await stream.record({"n": n})
    seen: list[int] = []
    for _ in range(6):  # five batches of 5, then an empty drain
        events, token = await stream.drain(5)
        seen += [event["n"] for event in events]
        await stream.acknowledge(token)
        assert await consumers(stream) == []
    assert seen == list(range(25))
    assert await stream.redis.xlen(stream.stream) == 0


async def test_a_dead_drains_batch_is_claimed_and_its_consumer_forgotten(
    platform: Platform,
) -> None:
    stream = redis_stream(platform, claim_after_ms=300)
    for n in range(3):
        await stream.record({"n": n})
    events, _lost = await stream.drain(10)  # this drain dies before acknowledging
    assert len(events) == 3
    # Before the claim time another drain leaves the batch to its holder.
    assert (await stream.drain(10))[0] == []
    assert [c["pending"] for c in await consumers(stream)] == [3]
    await asyncio.sleep(0.4)
    claimed, token = await stream.drain(10)
    assert [event["n"] for event in claimed] == [0, 1, 2]
    await stream.acknowledge(token)
    # The dead drain's consumer now holds nothing; it goes once idle past the claim time.
    assert [c["pending"] for c in await consumers(stream)] == [0]
    await asyncio.sleep(0.4)
    assert (await stream.drain(10))[0] == []
    assert await consumers(stream) == []
