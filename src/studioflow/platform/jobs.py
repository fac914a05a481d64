"""Background jobs on SAQ: Redis at scale, :class:`MemoryQueue` embedded, same task code.

Tasks are declared with :func:`task` (name ``feature.event``, ids not objects as arguments)
and receive the :class:`~studioflow.platform.runtime.Platform` first. SAQ's stock defaults
(10 s timeout, 1 try) suit neither mail nor image generation, so every task states its own.
Jobs asked for during a database transaction are sent after it commits (:meth:`JobQueue.defer`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from saq import CronJob, Worker
from saq.job import Job, Status
from saq.queue.base import Queue
from saq.types import Context, TimersDict
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.platform.db import after_commit

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.jobs")

TaskFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    function: TaskFunction
    timeout: int
    retries: int
    retry_delay: float
    retry_backoff: bool | float
    heartbeat: int
    ttl: int
    cron: str | None = None
    queue: str = "default"


@dataclass
class TaskRegistry:
    tasks: dict[str, TaskSpec] = field(default_factory=dict)

    def task(
        self,
        name: str,
        *,
        timeout: int = 60,
        retries: int = 3,
        retry_delay: float = 1.0,
        retry_backoff: bool | float = 60.0,
        heartbeat: int = 0,
        ttl: int = 3600,
        cron: str | None = None,
        queue: str = "default",
    ) -> Callable[[TaskFunction], TaskFunction]:
        """Declare a task; ``cron`` (UTC) also schedules it on that cron expression.

        ``queue`` names the SAQ queue (and so the worker pool) the task runs on: ``studio``
        keeps long image generation apart from mail and housekeeping.
        """

        def register(function: TaskFunction) -> TaskFunction:
            if name in self.tasks:
                raise ValueError(f"task {name!r} is declared twice")
            self.tasks[name] = TaskSpec(
                name=name,
                function=function,
                timeout=timeout,
                retries=retries,
                retry_delay=retry_delay,
                retry_backoff=retry_backoff,
                heartbeat=heartbeat,
                ttl=ttl,
                cron=cron,
                queue=queue,
            )
            return function

        return register

    def spec(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name]
        except KeyError:
            raise LookupError(f"unknown task {name!r}") from None


registry = TaskRegistry()
task = registry.task


class JobQueue:
    """What the rest of the code sees of the queue: enqueue by task name, defer to commit."""

    def __init__(
        self,
        queue: Queue,
        tasks: TaskRegistry = registry,
        *,
        others: dict[str, Queue] | None = None,
    ) -> None:
        self.saq = queue
        self.tasks = tasks
        self.queues: dict[str, Queue] = {"default": queue, **(others or {})}

    def saq_for(self, name: str) -> Queue:
        return self.queues.get(name, self.saq)

    async def enqueue(
        self,
        task_name: str,
        /,
        *,
        key: str | None = None,
        scheduled: float = 0,
        **kwargs: Any,
    ) -> Job | None:
        """Enqueue now (or to run at epoch ``scheduled``). With ``key``, a second enqueue of
        the same key while the first is still queued or running is a no-op (dedup)."""
        spec = self.tasks.spec(task_name)
        job = Job(
            function=task_name,
            kwargs=kwargs,
            timeout=spec.timeout,
            retries=spec.retries,
            retry_delay=spec.retry_delay,
            retry_backoff=spec.retry_backoff,
            heartbeat=spec.heartbeat,
            ttl=spec.ttl,
            scheduled=int(scheduled),
        )
        if key is not None:
            job.key = key
        return await self.saq_for(spec.queue).enqueue(job)

    def defer(
        self, session: AsyncSession, task_name: str, /, *, key: str | None = None, **kwargs: Any
    ) -> None:
        """Enqueue once ``session`` commits; nothing is sent if it rolls back."""
        self.tasks.spec(task_name)  # fail now, inside the request, on a typo

        async def send() -> None:
            await self.enqueue(task_name, key=key, **kwargs)

        after_commit(session, send)

    async def depth(self) -> dict[str, dict[str, int]]:
        """Jobs by state in each queue (by its SAQ name: mail and housekeeping apart from
        image generation)."""
        depth: dict[str, dict[str, int]] = {}
        for queue in self.queues.values():
            queued, active = await queue.count("queued"), await queue.count("active")
            scheduled = max(0, await queue.count("incomplete") - queued - active)
            depth[queue.name] = {"queued": queued, "active": active, "scheduled": scheduled}
        return depth

    async def ping(self) -> None:
        await self.saq.count("queued")

    async def close(self) -> None:
        for queue in self.queues.values():
            await queue.disconnect()


class StudioflowWorker(Worker[Context]):
    async def stop(self) -> None:
        # SAQ's stop waits for every task up to the grace period, including the upkeep loops
        # that sleep for up to a minute: stopping would always take the full grace period.
        # Cancel those first; only running jobs get the grace period.
        self.event.set()
        for upkeep in [t for t in self.tasks if t.get_name() != "process"]:
            upkeep.cancel()
        await super().stop()


class EmbeddedWorker(StudioflowWorker):
    # Inside the web server the signals belong to uvicorn; SAQ must not take them over.
    SIGNALS: list[Any] = []


async def heartbeat(job: Job) -> None:
    """Touch a running job three times per heartbeat period. SAQ's sweep takes a job whose
    worker stopped touching it for ``heartbeat`` seconds to be lost, instead of showing it
    ``active`` until its whole timeout has passed (15 minutes for a batch slice)."""
    interval = max(1.0, job.heartbeat / 3)
    while True:
        await asyncio.sleep(interval)
        try:
            await job.update()
        except Exception as error:  # a missed beat is not the job's failure
            log.warning("job.heartbeat_failed", error=type(error).__name__)


# SAQ's upkeep runs every second by default. Two of its loops cost more than they give here:
# `abort` fetches every running job's record each second to see whether the queue monitor
# aborted it (nothing else here aborts SAQ jobs: executions are cancelled through their
# control channel), half of a waiting batch worker's CPU beyond idle (bench/README.md);
# `schedule` parses every cron expression again each second. Aborts from the monitor now take
# a few seconds; jobs scheduled for later (retries, crons) start up to `schedule` late, which
# the studio queue (backed-off items) does not take: it has no crons to parse anyway.
# (SAQ's own defaults for the other two: worker info every 10 s, the sweep every 60 s.)
UPKEEP_TIMERS: TimersDict = {"abort": 3, "schedule": 5, "worker_info": 10, "sweep": 60}
UPKEEP_TIMERS_STUDIO: TimersDict = {**UPKEEP_TIMERS, "schedule": 1}


def build_worker(
    platform: Platform,
    *,
    concurrency: int,
    embedded: bool,
    tasks: TaskRegistry = registry,
    dequeue_timeout: float = 1.0,
    queue: str = "default",
    crons: bool = True,
) -> Worker[Context]:
    """A SAQ worker for the registered tasks of one queue, with their crons, metrics and log
    context."""

    def wrap(spec: TaskSpec) -> Callable[..., Awaitable[Any]]:
        async def run(ctx: Context, **kwargs: Any) -> Any:
            job: Job = ctx["job"]
            structlog.contextvars.bind_contextvars(job_id=job.key, task=spec.name)
            beating = asyncio.create_task(heartbeat(job)) if job.heartbeat else None
            try:
                return await spec.function(platform, **kwargs)
            finally:
                if beating is not None:
                    beating.cancel()
                structlog.contextvars.unbind_contextvars("job_id", "task")

        # SAQ schedules crons by the function's __qualname__: make it the task's name.
        run.__qualname__ = spec.name
        run.__name__ = spec.name
        return run

    specs = [spec for spec in tasks.tasks.values() if spec.queue == queue]
    wrapped = {spec.name: wrap(spec) for spec in specs}
    functions = [(name, fn) for name, fn in wrapped.items()]
    cron_jobs = [
        CronJob(
            wrapped[spec.name],
            cron=spec.cron,
            timeout=spec.timeout,
            retries=spec.retries,
            ttl=spec.ttl,
        )
        for spec in specs
        if spec.cron and crons
    ]

    async def before(ctx: Context) -> None:
        ctx["started_at"] = time.perf_counter()  # type: ignore[typeddict-unknown-key]

    async def after(ctx: Context) -> None:
        job: Job | None = ctx.get("job")
        if job is None:
            return
        outcome = {
            Status.COMPLETE: "complete",
            Status.FAILED: "failed",
            Status.ABORTED: "aborted",
            Status.QUEUED: "retried",
        }.get(job.status, job.status.value)
        platform.metrics.jobs.labels(job.function, outcome).inc()
        started = ctx.get("started_at")
        if isinstance(started, float):
            platform.metrics.job_duration.labels(job.function).observe(
                time.perf_counter() - started
            )

    worker_class = EmbeddedWorker if embedded else StudioflowWorker
    worker: Worker[Context] = worker_class(
        platform.queue.saq_for(queue),
        functions=functions,
        concurrency=concurrency,
        cron_jobs=cron_jobs,
        before_process=before,
        after_process=after,
        # Running jobs get this long to finish on shutdown before they are cancelled (and
        # retried by the next worker).
        shutdown_grace_period_s=platform.settings.worker_shutdown_grace_seconds,
        # Idle slots wake every second, so a stopping worker is not held by a blocked dequeue.
        dequeue_timeout=dequeue_timeout,
        metadata={"embedded": embedded},
        timers=UPKEEP_TIMERS_STUDIO if queue == "studio" else UPKEEP_TIMERS,
    )
    return worker
