"""The platform services of one process, built from settings: embedded or at scale.

``Platform`` is what the app's lifespan, the worker process and the CLI share. Which backend
each service gets is decided here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from redis.asyncio import Redis
from saq import Worker
from saq.types import Context

from studioflow.platform.db import Database
from studioflow.platform.events import EventBus, MemoryEventBus, RedisEventBus
from studioflow.platform.jobs import JobQueue, build_worker
from studioflow.platform.mail import Mailer, create_mailer
from studioflow.platform.observability import Metrics
from studioflow.platform.queue_memory import MemoryQueue
from studioflow.platform.ratelimit import Counters, MemoryCounters, RateLimiter, RedisCounters
from studioflow.platform.security import Passwords
from studioflow.platform.site_settings import SiteConfig
from studioflow.platform.storage import Storage, create_storage
from studioflow.platform.streams import EventStream, MemoryStream, RedisStream
from studioflow.platform.tally import Tally
from studioflow.settings import Settings

log = structlog.get_logger("studioflow.runtime")


@dataclass
class Platform:
    settings: Settings
    db: Database
    storage: Storage
    queue: JobQueue
    events: EventBus
    limiter: RateLimiter
    counters: Counters
    mailer: Mailer
    metrics: Metrics
    views: EventStream
    # Uses of API keys, written to their rows by a job (authentication only reads).
    key_uses: EventStream
    passwords: Passwords
    redis: Redis | None = None
    worker: Worker[Context] | None = None
    studio_worker: Worker[Context] | None = None
    # Off only where every session shares one connection (tests that roll back): a cron job
    # firing mid-test would use that connection from a second task at the same time.
    run_crons: bool = True
    # Delivered bytes and views, gathered and written in one go (platform/tally.py).
    tally: Tally = field(init=False)
    # The platform settings admins change (platform/site_settings.py), as this process has them.
    site: SiteConfig = field(init=False)
    _worker_tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.tally = Tally(self.counters, self.views)
        self.site = SiteConfig(self.db, self.settings)

    @property
    def outbox(self) -> Path:
        return self.settings.data_dir / "outbox"

    async def start_worker(
        self, *, concurrency: int | None = None, dequeue_timeout: float = 1.0
    ) -> None:
        """Run the SAQ workers (default and studio queues) in this event loop (embedded mode,
        or tests)."""
        if self._worker_tasks:
            return
        self.worker = build_worker(
            self,
            concurrency=concurrency or self.settings.worker_concurrency,
            embedded=True,
            dequeue_timeout=dequeue_timeout,
            crons=self.run_crons,
        )
        self.studio_worker = build_worker(
            self,
            concurrency=self.settings.studio_worker_concurrency,
            embedded=True,
            dequeue_timeout=dequeue_timeout,
            queue="studio",
            crons=self.run_crons,
        )
        self._worker_tasks = [
            asyncio.create_task(self.worker.start(), name="saq-worker"),
            asyncio.create_task(self.studio_worker.start(), name="saq-studio-worker"),
        ]

    async def stop_worker(self) -> None:
        workers = [w for w in (self.worker, self.studio_worker) if w is not None]
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        for running in self._worker_tasks:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        self.worker = None
        self.studio_worker = None
        self._worker_tasks = []

    async def readiness(self) -> dict[str, str]:
        """Ask each backing service to answer; ``ok`` or a short reason per service."""
        checks: dict[str, Any] = {
            "database": self.db.ping(),
            "storage": self.storage.ping(),
            "queue": self.queue.ping(),
        }
        if self.redis is not None:
            checks["redis"] = self.redis.ping()
        names = list(checks)
        results = await asyncio.gather(
            *(asyncio.wait_for(check, timeout=3.0) for check in checks.values()),
            return_exceptions=True,
        )
        report: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                reason = type(result).__name__
                if isinstance(result, TimeoutError):
                    reason = "timed out"
                report[name] = f"error: {reason}"
            else:
                report[name] = "ok"
        return report

    async def close(self) -> None:
        await self.stop_worker()
        for closer in (self.events.close, self.queue.close, self.storage.close, self.db.dispose):
            with contextlib.suppress(Exception):
                await closer()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()


def freeze_startup_heap() -> None:
    """Take everything alive once a process has started (modules, the app and its routes,
    mappers, compiled statements: hundreds of thousands of objects) out of the garbage
    collector's sight. Its full collections walked all of them and stopped the event loop for
    120-130 ms each, the worst stall a user met under load (bench/README.md, "Load"); after
    the freeze they walk what requests create, ~6 ms. Nothing frozen is ever freed, which is
    what start-up objects are for."""
    gc.collect()
    gc.freeze()


def build_platform(
    settings: Settings, *, metrics: Metrics | None = None, listen: str | tuple[str, ...] = "*"
) -> Platform:
    """Every service from ``settings``. ``listen``: the live-event channels this process
    subscribes to (at scale; see :class:`RedisEventBus`)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.open(settings.database_url)
    storage = create_storage(
        settings.storage_url,
        secret=settings.secret,
        base_url=settings.base_url,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=settings.s3_secret_access_key,
    )
    redis: Redis | None = None
    events: EventBus
    counters: Counters
    if settings.redis_url is None:
        queue = JobQueue(
            MemoryQueue(name=settings.queue_name),
            others={"studio": MemoryQueue(name=f"{settings.queue_name}-studio")},
        )
        events = MemoryEventBus()
        limiter = RateLimiter.in_memory()
        counters = MemoryCounters()
        views: EventStream = MemoryStream()
        key_uses: EventStream = MemoryStream()
    else:
        from saq.queue.redis import RedisQueue

        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        # SAQ keeps its own connection pool: its blocking BLMOVE must not starve our calls.
        saq_redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        queue = JobQueue(
            RedisQueue(saq_redis, name=settings.queue_name),
            others={"studio": RedisQueue(saq_redis, name=f"{settings.queue_name}-studio")},
        )
        events = RedisEventBus(redis, prefix=settings.redis_prefix, listen=listen)
        limiter = RateLimiter.on_redis(settings.redis_url, prefix=settings.redis_prefix)
        counters = RedisCounters(redis, prefix=settings.redis_prefix)
        views = RedisStream(redis, name=f"{settings.redis_prefix}:views")
        key_uses = RedisStream(redis, name=f"{settings.redis_prefix}:key-uses")
    mailer = create_mailer(settings.smtp_url, outbox=settings.data_dir / "outbox")
    return Platform(
        settings=settings,
        db=db,
        storage=storage,
        queue=queue,
        events=events,
        limiter=limiter,
        counters=counters,
        mailer=mailer,
        metrics=metrics or Metrics(),
        views=views,
        key_uses=key_uses,
        passwords=passwords_for(settings),
        redis=redis,
    )


def passwords_for(settings: Settings) -> Passwords:
    return Passwords(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        concurrency=settings.password_hash_concurrency,
    )
