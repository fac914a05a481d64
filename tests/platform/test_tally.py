"""The tally (platform/tally.py): amounts and events gathered per request, written in one go,
exactly once, on both backends (memory, and Redis counters and stream)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from studioflow.platform.ratelimit import Counters
from studioflow.platform.runtime import Platform
from studioflow.platform.tally import Tally


async def test_amounts_and_events_are_written_in_one_go(platform: Platform) -> None:
    tally = Tally(platform.counters, platform.views)
    key = f"bytes:{uuid.uuid4()}"
    built: list[int] = []

    def event(n: int) -> dict[str, Any]:
        built.append(n)
        return {"n": n}

    for n in range(250):
        tally.add(key, 10, ttl=60)
        tally.record(lambda n=n: event(n))  # type: ignore[misc]
    # Nothing written yet, and nothing built: the request paid for a closure.
    assert await platform.counters.get(key) == 0 and built == []
    # This process sees its own pending bytes at once.
    assert await tally.total(key) == 2_500
    await tally.flush()
    assert await platform.counters.get(key) == 2_500
    assert await tally.total(key) == 2_500  # written: not counted twice
    events, token = await platform.views.drain(1_000)
    await platform.views.acknowledge(token)
    assert sorted(e["n"] for e in events) == list(range(250))
    await tally.flush()  # nothing pending: nothing written again
    assert await platform.counters.get(key) == 2_500
    assert (await platform.views.drain(1_000))[0] == []


class FailingOnce:
    """The platform's counters, the first increment of ``key`` refused (Redis gone)."""

    def __init__(self, inner: Counters, key: str) -> None:
        self.inner = inner
        self.key = key
        self.failed = False

    async def incr(self, key: str, amount: int = 1, *, ttl: int | None = None) -> int:
        if key == self.key and not self.failed:
            self.failed = True
            raise ConnectionError("Redis went away")
        return await self.inner.incr(key, amount, ttl=ttl)

    async def get(self, key: str) -> int:
        return await self.inner.get(key)


async def test_a_failed_write_loses_nothing_and_counts_nothing_twice(platform: Platform) -> None:
    first, second = f"a:{uuid.uuid4()}", f"b:{uuid.uuid4()}"
    counters = FailingOnce(platform.counters, second)
    tally = Tally(counters, platform.views)  # type: ignore[arg-type]
    tally.add(first, 5)
    tally.add(second, 7)
    tally.record(lambda: {"n": 1})
    with pytest.raises(ConnectionError):
        await tally.flush()
    # The first key was written before the failure; the second and the event wait.
    assert await platform.counters.get(first) == 5
    assert await platform.counters.get(second) == 0
    assert await tally.total(second) == 7
    tally.add(second, 1)  # a request while Redis was away
    await tally.flush()
    assert await platform.counters.get(first) == 5
    assert await platform.counters.get(second) == 8
    events, token = await platform.views.drain(10)
    await platform.views.acknowledge(token)
    assert events == [{"n": 1}]


async def test_stopping_writes_what_is_pending(platform: Platform) -> None:
    key = f"stop:{uuid.uuid4()}"
    tally = Tally(platform.counters, platform.views, interval=3600)
    running = asyncio.create_task(tally.run())
    await asyncio.sleep(0)
    tally.add(key, 42)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await platform.counters.get(key) == 42


async def test_the_running_tally_writes_every_interval(platform: Platform) -> None:
    key = f"tick:{uuid.uuid4()}"
    tally = Tally(platform.counters, platform.views, interval=0.05)
    running = asyncio.create_task(tally.run())
    try:
        tally.add(key, 3)
        for _ in range(100):
            if await platform.counters.get(key) == 3:
                break
            await asyncio.sleep(0.02)
        assert await platform.counters.get(key) == 3
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
