"""The job queue on both backends: SAQ's Worker on MemoryQueue embedded and on Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from saq.job import Status

from studioflow.models import User
from studioflow.platform.jobs import EmbeddedWorker, JobQueue, TaskRegistry, build_worker
from studioflow.platform.mail import build_message
from studioflow.platform.runtime import Platform
from studioflow.platform.security import encrypt_secret
from studioflow.platform.tasks import (
    MAIL_PURPOSE,
    cleanup_staging,
    send_mail,
    send_mail_later,
)
from studioflow.settings import Settings
from tests.conftest import subprocess_env

calls: list[tuple[str, Any]] = []
attempts: dict[str, int] = {}
tasks = TaskRegistry()


@tasks.task("test.record", timeout=5, retries=1)
async def record(platform: Platform, *, value: int) -> int:
    calls.append(("record", value))
    return value * 2


@tasks.task("test.flaky", timeout=5, retries=3, retry_delay=0.0, retry_backoff=False)
async def flaky(platform: Platform, *, name: str) -> str:
    attempts[name] = attempts.get(name, 0) + 1
    if attempts[name] < 2:
        raise ConnectionError("provider hiccup")
    return "ok"


@tasks.task("test.broken", timeout=5, retries=2, retry_delay=0.0, retry_backoff=False)
async def broken(platform: Platform) -> None:
    raise ValueError("always")


@tasks.task("test.slow", timeout=30, retries=1)
async def slow(platform: Platform) -> None:
    calls.append(("slow-started", None))
    await asyncio.sleep(30)


@pytest.fixture
async def queue(platform: Platform) -> AsyncIterator[JobQueue]:
    calls.clear()
    attempts.clear()
    worker = build_worker(platform, concurrency=4, embedded=True, tasks=tasks)
    runner = asyncio.create_task(worker.start())
    try:
        yield JobQueue(platform.queue.saq, tasks)
    finally:
        await worker.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_enqueued_job_runs_and_returns(queue: JobQueue) -> None:
    job = await queue.enqueue("test.record", value=21)
    assert job is not None
    await job.refresh(until_complete=10)
    assert job.status == Status.COMPLETE
    assert job.result == 42
    assert calls == [("record", 21)]


async def test_failures_are_retried_then_succeed(queue: JobQueue, platform: Platform) -> None:
    job = await queue.enqueue("test.flaky", name="a")
    assert job is not None
    await job.refresh(until_complete=10)
    assert job.status == Status.COMPLETE
    assert attempts["a"] == 2
    text = metrics_text(platform)
    assert 'studioflow_jobs_total{function="test.flaky",outcome="retried"} 1.0' in text
    assert 'studioflow_jobs_total{function="test.flaky",outcome="complete"} 1.0' in text


async def test_exhausted_retries_fail_the_job(queue: JobQueue, platform: Platform) -> None:
    job = await queue.enqueue("test.broken")
    assert job is not None
    await job.refresh(until_complete=10)
    assert job.status == Status.FAILED
    assert job.attempts == 2
    assert "ValueError" in (job.error or "")
    assert 'function="test.broken",outcome="failed"} 1.0' in metrics_text(platform)


async def test_a_key_deduplicates(platform: Platform) -> None:
    queue = JobQueue(platform.queue.saq, tasks)  # no worker: both stay queued
    first = await queue.enqueue("test.slow", key="only-once")
    second = await queue.enqueue("test.slow", key="only-once")
    assert first is not None and second is None


async def test_running_job_can_be_aborted(queue: JobQueue) -> None:
    job = await queue.enqueue("test.slow")
    assert job is not None
    for _ in range(100):
        if ("slow-started", None) in calls:
            break
        await asyncio.sleep(0.05)
    await job.abort("cancelled by user")
    await job.refresh(until_complete=10)
    assert job.status == Status.ABORTED


async def test_unknown_task_is_refused_at_enqueue(queue: JobQueue) -> None:
    with pytest.raises(LookupError):
        await queue.enqueue("test.nope")


async def test_jobs_are_sent_after_commit_and_dropped_on_rollback(platform: Platform) -> None:
    queue = JobQueue(platform.queue.saq, tasks)
    before = await platform.queue.saq.count("queued")
    async with platform.db.transaction() as session:
        session.add(User(email="deferred@example.com"))
        queue.defer(session, "test.record", value=1)
        # Not yet: the row is not committed, so a worker must not see the job.
        assert await platform.queue.saq.count("queued") == before
    assert await platform.queue.saq.count("queued") == before + 1

    with pytest.raises(RuntimeError):
        async with platform.db.transaction() as session:
            queue.defer(session, "test.record", value=2)
            raise RuntimeError("request failed")
    assert await platform.queue.saq.count("queued") == before + 1


def test_embedded_worker_leaves_signals_to_the_server() -> None:
    assert EmbeddedWorker.SIGNALS == []


def test_platform_tasks_are_registered_with_their_crons(platform: Platform) -> None:
    worker = build_worker(platform, concurrency=1, embedded=True)
    assert {"mail.send", "storage.cleanup_staging"} <= set(worker.functions)
    crons = {job.function.__qualname__: job.cron for job in worker.cron_jobs}
    assert crons["storage.cleanup_staging"] == "17 3 * * *"


async def test_cleanup_removes_only_stale_staging_files(platform: Platform) -> None:
    platform.outbox.mkdir(parents=True, exist_ok=True)
    stale = platform.outbox / ".abc.part"
    fresh = platform.outbox / ".def.part"
    message = platform.outbox / "20260101-x.eml"
    for path in (stale, fresh, message):
        path.write_text("x")
    old = time.time() - 2 * 86400
    os.utime(stale, (old, old))
    os.utime(message, (old, old))
    removed = await cleanup_staging(platform)
    assert removed == 1
    assert not stale.exists() and fresh.exists() and message.exists()


async def test_mail_job_delivers_through_the_queue(platform: Platform, settings: Settings) -> None:
    await platform.start_worker(concurrency=2)
    message = build_message(
        sender=settings.mail_from, to="ada@example.com", subject="Queued", text="Hello from a job"
    )
    async with platform.db.transaction() as session:
        send_mail_later(platform, session, message)
    for _ in range(100):
        files = list(platform.outbox.glob("*.eml"))
        if files:
            break
        await asyncio.sleep(0.05)
    assert len(files) == 1
    assert "Hello from a job" in files[0].read_text()


async def test_mail_is_sealed_in_the_job_and_its_record_goes_when_sent(
    platform: Platform, settings: Settings
) -> None:
    message = build_message(
        sender=settings.mail_from, to="ada@example.com", subject="Code", text="Your code: 864209"
    )
    async with platform.db.transaction() as session:
        send_mail_later(platform, session, message)
    (job,) = [job async for job in platform.queue.saq.iter_jobs() if job.function == "mail.send"]
    stored = platform.queue.saq.serialize(job) or ""
    assert "864209" not in stored and "ada@example.com" not in stored
    assert set(job.kwargs or {}) == {"sealed"}

    await platform.start_worker(concurrency=1, dequeue_timeout=0.05)
    for _ in range(200):
        files = list(platform.outbox.glob("*.eml"))
        if files and await platform.queue.saq.job(job.key) is None:
            break
        await asyncio.sleep(0.05)
    assert len(files) == 1 and "864209" in files[0].read_text()
    # Done: the record, sealed message and all, is gone from the queue.
    assert await platform.queue.saq.job(job.key) is None


async def test_mail_sealed_under_another_key_is_dropped_not_retried(
    platform: Platform, settings: Settings
) -> None:
    sealed = encrypt_secret("another installation's secret", MAIL_PURPOSE, "Subject: x\n\nx")
    assert await send_mail(platform, sealed=sealed) is False
    assert not list(platform.outbox.glob("*.eml"))


async def test_worker_in_a_separate_process(settings: Settings, platform: Platform) -> None:
    """At scale the worker is its own process: a job sent here is done there."""
    if settings.redis_url is None:
        pytest.skip("the embedded queue lives inside one process by design")
    data_dir = Path(settings.data_dir)
    env = {
        **subprocess_env(),
        "STUDIOFLOW_ENV": "test",
        "STUDIOFLOW_DATA_DIR": str(data_dir),
        "STUDIOFLOW_DATABASE_URL": settings.database_url,
        "STUDIOFLOW_REDIS_URL": settings.redis_url,
        "STUDIOFLOW_QUEUE_NAME": settings.queue_name,
        "STUDIOFLOW_REDIS_PREFIX": settings.redis_prefix,
        "STUDIOFLOW_SECRET_KEY": settings.secret,
        "STUDIOFLOW_STORAGE_URL": settings.storage_url,
        "STUDIOFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "STUDIOFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
        "STUDIOFLOW_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key or "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "studioflow", "worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Wait for the worker to announce itself: its first upkeep sweeps the active list, and
        # saq sweeps (and retries) a job it finds there that another worker has just dequeued
        # but not yet marked active: a start-up race of saq's, not ours, that re-runs the job.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (await platform.queue.saq.info())["workers"]:
            assert loop.time() < deadline, "the worker did not start"
            await asyncio.sleep(0.1)
        message = build_message(
            sender=settings.mail_from, to="grace@example.com", subject="Remote", text="Done there"
        )
        sealed = encrypt_secret(settings.secret, MAIL_PURPOSE, message.as_string())
        job = await platform.queue.enqueue("mail.send", sealed=sealed)
        assert job is not None
        # A finished mail job leaves no record (its sealed message goes with it): wait for the
        # message in the outbox, then for the record to be gone.
        deadline = loop.time() + 30
        while not (files := list((data_dir / "outbox").glob("*.eml"))):
            assert loop.time() < deadline, "the worker did not send the mail"
            await asyncio.sleep(0.1)
        assert len(files) == 1 and "Done there" in files[0].read_text()
        while await platform.queue.saq.job(job.key) is not None:
            assert loop.time() < deadline, "the finished job's record is still there"
            await asyncio.sleep(0.1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode is not None


def metrics_text(platform: Platform) -> str:
    from prometheus_client import generate_latest

    return generate_latest(platform.metrics.registry).decode()


async def test_mail_jobs_of_an_earlier_release_are_still_sent(
    platform: Platform, settings: Settings
) -> None:
    message = build_message(sender=settings.mail_from, to="old@example.com", subject="s", text="t")
    assert await send_mail(platform, message=message.as_string()) is True
    assert len(list(platform.outbox.glob("*.eml"))) == 1


@tasks.task("test.long", timeout=30, heartbeat=3, retries=1)
async def long_running(platform: Platform, *, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


async def test_long_jobs_are_touched_while_they_run(
    platform: Platform,
) -> None:
    """A job with a heartbeat is touched while it runs; SAQ's sweep takes one untouched for
    ``heartbeat`` seconds to be lost (a batch slice of a killed worker showed ``active`` for
    its whole 15-minute timeout; issue 12, item 18)."""
    queue = JobQueue(platform.queue.saq, tasks)
    worker = build_worker(platform, concurrency=1, embedded=True, tasks=tasks, crons=False)
    running = asyncio.create_task(worker.start())
    try:
        job = await queue.enqueue("test.long", seconds=2.5)
        assert job is not None and job.heartbeat == 3
        for _ in range(100):
            await job.refresh()
            if job.status == Status.ACTIVE:
                break
            await asyncio.sleep(0.05)
        first_touch = job.touched
        await asyncio.sleep(1.6)  # past one beat (every heartbeat / 3 = 1 s)
        await job.refresh()
        assert job.status == Status.ACTIVE and job.touched > first_touch
        assert not job.stuck
        await job.refresh(until_complete=10)
        assert job.status == Status.COMPLETE and job.result == "done"
    finally:
        await worker.stop()
        running.cancel()


def test_the_batch_slice_task_beats() -> None:
    import studioflow.tasks  # noqa: F401  (registers every feature's tasks)
    from studioflow.platform.jobs import registry

    assert registry.spec("studio.execute").heartbeat == 60
    assert registry.spec("identity.export_account").heartbeat == 60
