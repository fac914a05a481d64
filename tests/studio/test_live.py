"""Live progress (SSE with Last-Event-ID), the shared provider rate limit, and executions that
survive their worker being killed; the multi-process cases run on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from typing import IO, Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from studioflow.models import BatchResult, CreditEvent, Image, WorkflowExecution
from studioflow.studio import runner, streaming
from studioflow.studio.limiter import SPACING_MARGIN, ProviderLimiter
from tests.conftest import TEST_REDIS_URL
from tests.fakes.image_apis import GEMINI_KEY, FakeImageAPIs
from tests.studio.conftest import Studio, use_provider, worker_env

Fake = tuple[FakeImageAPIs, str]


def parse_sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        if "id" in fields:
            events.append(
                {
                    "id": int(fields["id"]),
                    "event": fields["event"],
                    "data": json.loads(fields["data"]),
                }
            )
    return events


class StillThere:
    """Stands in for the Starlette request the SSE generator polls for disconnects."""

    async def is_disconnected(self) -> bool:
        return False


async def collect(
    stream: AsyncIterator[str], *, stop_after: int | None = None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for chunk in stream:
        events.extend(parse_sse(chunk))
        if stop_after is not None and len(events) >= stop_after:
            break
    return events


async def test_events_replay_everything_after_last_event_id(studio: Studio) -> None:
    execution_id = await studio.execute(["one", "two"])
    await studio.wait(execution_id)
    url = f"/api/v1/executions/{execution_id}/events"
    response = await studio.client.get(url, headers=studio.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "completed" and events[-1]["data"]["completed"] == 2
    kinds = {e["event"] for e in events}
    assert kinds == {"progress", "item", "completed"}
    done = [e for e in events if e["event"] == "item" and e["data"]["status"] == "completed"]
    assert len(done) == 2 and all(e["data"]["result_url"].startswith("http") for e in done)
    resumed = await studio.client.get(url, headers={**studio.headers, "Last-Event-ID": "3"})

    def unsigned(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A result URL is signed when it is read, with an expiry in whole seconds: two reads
        # a second apart differ there and nowhere else.
        for event in found:
            if "result_url" in event["data"]:
                event["data"]["result_url"] = event["data"]["result_url"].split("?")[0]
        return found

    assert unsigned(parse_sse(resumed.text)) == unsigned(events[3:])
    bad = await studio.client.get(url, headers={**studio.headers, "Last-Event-ID": "x"})
    assert bad.status_code == 422


async def test_a_client_reconnecting_mid_batch_loses_nothing(
    studio: Studio, fake_apis: Fake
) -> None:
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    studio.settings.gemini_api_key = GEMINI_KEY
    studio.settings.studio_provider_rate_per_minute = 6000
    studio.settings.studio_prompt_concurrency = 1
    fake.default = "slow"
    fake.slow_seconds = 0.3
    await studio.grant(5)
    execution_id = uuid.UUID(await studio.execute([f"frame {n}" for n in range(5)]))
    first = await collect(
        streaming.execution_events(studio.platform, StillThere(), execution_id, 0),  # type: ignore[arg-type]
        stop_after=4,
    )
    await asyncio.sleep(0.5)  # events keep coming while we are away
    rest = await collect(
        streaming.execution_events(studio.platform, StillThere(), execution_id, first[-1]["id"])  # type: ignore[arg-type]
    )
    ids = [e["id"] for e in first + rest]
    assert ids == list(range(1, len(ids) + 1)), ids
    assert rest[-1]["event"] == "completed"
    assert (
        sum(1 for e in first + rest if e["event"] == "item" and e["data"]["status"] == "completed")
        == 5
    )


async def test_the_memory_limiter_spaces_calls_evenly() -> None:
    limiter = ProviderLimiter(None, prefix="t")
    key = f"k-{uuid.uuid4()}"
    waits = [await limiter.reserve(key, 60) for _ in range(5)]
    assert waits[0] == pytest.approx(0, abs=0.05)
    for n, wait in enumerate(waits):
        assert wait == pytest.approx(n * 1.0 * SPACING_MARGIN, abs=0.05)


async def test_the_redis_limiter_is_one_schedule_for_every_process() -> None:
    if TEST_REDIS_URL is None:
        pytest.skip("needs STUDIOFLOW_TEST_REDIS_URL")
    first, second = Redis.from_url(TEST_REDIS_URL), Redis.from_url(TEST_REDIS_URL)
    try:
        a = ProviderLimiter(first, prefix=f"t-{uuid.uuid4().hex[:6]}")
        b = ProviderLimiter(second, prefix=a.prefix.removesuffix(":provider-limit:"))
        waits = []
        for limiter in (a, b, a, b):
            waits.append(await limiter.reserve("shared-key", 120))
        for n, wait in enumerate(waits):
            assert wait == pytest.approx(n * 0.5 * SPACING_MARGIN, abs=0.1), waits
    finally:
        await first.aclose()
        await second.aclose()


def start_worker(
    studio: Studio, *, log: IO[bytes] | None = None, **overrides: object
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "studioflow", "worker", "--concurrency", "2"],
        env=worker_env(studio.settings, **overrides),
        stdout=log or subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
    )


async def completed_items(studio: Studio, execution_id: str) -> int:
    results = await studio.results(execution_id)
    return sum(1 for r in results if r["status"] == "completed")


async def test_a_worker_killed_mid_batch_loses_nothing_and_charges_once(
    studio_app: Studio, fake_apis: Fake
) -> None:
    studio = studio_app
    if studio.settings.redis_url is None:
        pytest.skip("worker processes need the Redis queue (embedded runs in the server)")
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    fake.default = "slow"
    fake.slow_seconds = 0.4
    await studio.grant(9)
    settings = {
        "gemini_api_key": GEMINI_KEY,
        "gemini_base_url": url,
        "studio_provider_rate_per_minute": 6000,
        "studio_prompt_concurrency": 2,
        "studio_lease_seconds": 2,
    }
    first = start_worker(studio, **settings)
    try:
        execution_id = await studio.execute([f"item {n}" for n in range(12)])
        deadline = time.monotonic() + 60
        while await completed_items(studio, execution_id) < 3:
            assert time.monotonic() < deadline, "the first worker made no progress"
            await asyncio.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        calls_at_kill = len(fake.calls)
    finally:
        if first.poll() is None:
            first.kill()
    await asyncio.sleep(2.5)  # the dead worker's lease runs out
    # The next worker queues the batch again as it starts (its recovery sweep), without
    # waiting for the minute cron.
    with tempfile.TemporaryFile() as log:
        second = start_worker(studio, log=log, **settings)
        try:
            done = await studio.wait(execution_id, timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=20)
            except subprocess.TimeoutExpired:
                second.kill()
        log.seek(0)
        assert b"worker recovered executions=1" in log.read()
    assert done["status"] == "completed", done
    assert done["progress"]["completed"] == 12
    results = await studio.results(execution_id)
    # Nothing done twice: the calls after the kill are the unfinished items (plus any the
    # dead worker had in flight, tried again), never the completed ones.
    assert len(fake.calls) - calls_at_kill <= 12 - 3 + 2
    assert sum(r["attempts"] for r in results) <= 12 + 2
    async with studio.platform.db.transaction() as session:
        images = await session.scalar(select(func.count()).select_from(Image))
        debits = await session.scalar(
            select(func.count()).select_from(CreditEvent).where(CreditEvent.reason == "execution")
        )
        refunds = await session.scalar(
            select(func.count()).select_from(CreditEvent).where(CreditEvent.reason == "refund")
        )
        linked = await session.scalar(
            select(func.count(func.distinct(BatchResult.image_id))).where(
                BatchResult.image_id.is_not(None)
            )
        )
    assert images == linked == 12 and debits == 1 and refunds == 0
    assert await studio.balance() == 3 + 9 - 12
    await studio.assert_ledger_balanced()


async def test_events_reach_this_process_from_a_worker_process(
    studio_app: Studio, fake_apis: Fake
) -> None:
    studio = studio_app
    if studio.settings.redis_url is None:
        pytest.skip("worker processes need the Redis queue (embedded runs in the server)")
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    fake.default = "slow"
    fake.slow_seconds = 0.3
    worker = start_worker(
        studio,
        gemini_api_key=GEMINI_KEY,
        gemini_base_url=url,
        studio_provider_rate_per_minute=6000,
        studio_prompt_concurrency=1,
    )
    try:
        execution_id = uuid.UUID(await studio.execute(["a", "b", "c"]))
        events = await asyncio.wait_for(
            collect(streaming.execution_events(studio.platform, StillThere(), execution_id, 0)),  # type: ignore[arg-type]
            timeout=60,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "completed"


async def test_a_worker_stopped_gracefully_hands_its_batch_back_at_once(
    studio_app: Studio, fake_apis: Fake
) -> None:
    """A deploy stops workers with SIGTERM: the lease is released and in-flight items go
    back to pending before the process exits, so the next worker goes on without waiting
    out the lease (issue 12, item 14)."""
    studio = studio_app
    if studio.settings.redis_url is None:
        pytest.skip("worker processes need the Redis queue (embedded runs in the server)")
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    fake.default = "slow"
    # More work than the 1-s grace this stopping worker gives its jobs: 20 items of 0.5 s,
    # two at a time, so the slice is still running when the grace ends.
    fake.slow_seconds = 0.5
    await studio.grant(17)
    settings = {
        "gemini_api_key": GEMINI_KEY,
        "gemini_base_url": url,
        "studio_provider_rate_per_minute": 6000,
        "studio_prompt_concurrency": 2,
        "studio_lease_seconds": 600,  # a stopped worker's lease would hold the batch 10 min
        "worker_shutdown_grace_seconds": 1,
    }
    first = start_worker(studio, **settings)
    try:
        execution_id = await studio.execute([f"item {n}" for n in range(20)])
        deadline = time.monotonic() + 60
        while not fake.calls:
            assert time.monotonic() < deadline, "the first worker made no progress"
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    async with studio.platform.db.transaction() as session:
        execution = await session.get(WorkflowExecution, uuid.UUID(execution_id))
        assert execution is not None and execution.runner_id is None
        in_flight = await session.scalar(
            select(func.count())
            .select_from(BatchResult)
            .where(BatchResult.execution_id == execution.id, BatchResult.status == "processing")
        )
    assert in_flight == 0
    second = start_worker(studio, **settings)
    try:
        done = await studio.wait(execution_id, timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
    assert done["status"] == "completed" and done["progress"]["completed"] == 20


async def test_a_stopping_slice_requeues_items_claimed_but_not_yet_started(
    studio_app: Studio, fake_apis: Fake
) -> None:
    """SIGTERM can cancel a claim after its commit reached the database and before its items
    became tasks (seen once in CI): the stand-down still leaves nothing "processing"."""
    studio = studio_app
    fake, url = fake_apis
    await use_provider(studio, "gemini", url)
    studio.settings.gemini_api_key = GEMINI_KEY
    studio.settings.studio_provider_rate_per_minute = 6000
    studio.settings.studio_prompt_concurrency = 1
    fake.default = "slow"
    fake.slow_seconds = 5
    execution_id = uuid.UUID(await studio.execute(["first", "second", "third"]))
    running = asyncio.create_task(runner.run_slice(studio.platform, execution_id, 0))
    deadline = time.monotonic() + 30
    while not fake.calls:
        assert time.monotonic() < deadline, "the slice made no provider call"
        await asyncio.sleep(0.05)
    # A claim the runner never saw: committed, but its task was not created.
    async with studio.platform.db.transaction() as session:
        await session.execute(
            update(BatchResult)
            .where(BatchResult.execution_id == execution_id, BatchResult.index == 2)
            .values(status="processing", attempts=BatchResult.attempts + 1)
        )
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    async with studio.platform.db.transaction() as session:
        execution = await session.get(WorkflowExecution, execution_id)
        statuses = (
            await session.scalars(
                select(BatchResult.status)
                .where(BatchResult.execution_id == execution_id)
                .order_by(BatchResult.index)
            )
        ).all()
    assert execution is not None and execution.runner_id is None
    assert list(statuses) == ["pending", "pending", "pending"]
