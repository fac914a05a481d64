"""The live event bus on both backends (in-process and Redis pub/sub)."""

from __future__ import annotations

import asyncio

from studioflow.platform.runtime import Platform


async def test_subscribers_get_their_channel_only(platform: Platform) -> None:
    bus = platform.events
    async with bus.subscribe("execution:1") as first, bus.subscribe("execution:2") as other:
        await bus.publish("execution:1", {"event": "progress", "completed": 1})
        await bus.publish("execution:2", {"event": "progress", "completed": 7})
        assert await first.get(timeout=5) == {"event": "progress", "completed": 1}
        assert await other.get(timeout=5) == {"event": "progress", "completed": 7}
        assert await first.get(timeout=0.2) is None


async def test_every_subscriber_of_a_channel_gets_each_message(platform: Platform) -> None:
    bus = platform.events
    async with bus.subscribe("c") as a, bus.subscribe("c") as b:
        for n in range(3):
            await bus.publish("c", {"n": n})
        got_a = [await a.get(timeout=5) for _ in range(3)]
        got_b = [await b.get(timeout=5) for _ in range(3)]
    assert got_a == got_b == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_leaving_subscribers_are_forgotten(platform: Platform) -> None:
    bus = platform.events
    async with bus.subscribe("gone"):
        pass
    await bus.publish("gone", {"x": 1})  # nobody listens: no error, nothing kept
    await asyncio.sleep(0.3)  # let a Redis round trip deliver it (to nobody)
    async with bus.subscribe("gone") as late:
        assert await late.get(timeout=0.2) is None


async def test_iterating_a_subscription(platform: Platform) -> None:
    bus = platform.events
    async with bus.subscribe("iter") as subscription:

        async def publish() -> None:
            for n in range(3):
                await bus.publish("iter", {"n": n})

        await publish()
        received = []
        async for message in subscription:
            received.append(message["n"])
            if len(received) == 3:
                break
    assert received == [0, 1, 2]


async def test_publishes_from_another_connection_arrive(platform: Platform) -> None:
    """At scale the publisher is another process; a second client stands in for it."""
    if platform.redis is None:
        return
    from redis.asyncio import Redis

    from studioflow.platform.events import RedisEventBus

    other = RedisEventBus(
        Redis.from_url(platform.settings.redis_url or ""), prefix=platform.settings.redis_prefix
    )
    try:
        async with platform.events.subscribe("remote") as subscription:
            await other.publish("remote", {"from": "worker"})
            assert await asyncio.wait_for(subscription.get(), 5) == {"from": "worker"}
    finally:
        await other.close()
        await other.redis.aclose()


async def test_a_bus_that_listens_to_some_channels_gets_only_those(platform: Platform) -> None:
    """A worker listens to control channels only: every other event of every execution was
    received, decoded and dropped by every worker."""
    import pytest

    from studioflow.platform.events import RedisEventBus

    if platform.redis is None:
        pytest.skip("a pattern subscription is Redis's")
    prefix = platform.settings.redis_prefix
    narrow = RedisEventBus(platform.redis, prefix=prefix, listen="execution-control:*")
    try:
        with pytest.raises(ValueError, match="listens to"):
            async with narrow.subscribe("execution:1"):
                pass
        async with narrow.subscribe("execution-control:1") as control:
            await platform.events.publish("execution:1", {"event": "progress"})
            await platform.events.publish("execution-control:1", {"event": "cancel"})
            assert await control.get(timeout=5) == {"event": "cancel"}
            assert await control.get(timeout=0.2) is None
    finally:
        await narrow.close()
