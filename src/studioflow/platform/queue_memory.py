"""An in-process implementation of SAQ's ``Queue`` for the embedded mode.

It mirrors the Redis queue's data model (a job table, a FIFO of queued ids, the active list,
the "incomplete" sorted set holding scheduled times, abort markers) so that SAQ's own
``Worker`` runs unchanged on it and task code is identical in both modes. Everything lives
in this process and event loop: it is for one server process, which the CLI enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from saq.job import Job, Status
from saq.queue.base import Queue
from saq.utils import millis, now, now_seconds


class MemoryQueue(Queue):
    def __init__(self, name: str = "default") -> None:
        super().__init__(name=name, dump=None, load=None)
        self._jobs: dict[str, str | bytes] = {}
        self._expires: dict[str, float] = {}
        self._queued: deque[str] = deque()
        self._active: list[str] = []
        self._incomplete: dict[str, float] = {}
        self._aborts: dict[str, float] = {}
        self._workers: dict[str, tuple[float, Any]] = {}
        self._changed = asyncio.Condition()
        self._sweep_lock_until = 0.0
        self._schedule_lock_until = 0.0

    def __repr__(self) -> str:
        return f"MemoryQueue<name='{self.name}'>"

    def job_id(self, job_key: str) -> str:
        return f"saq:job:{self.name}:{job_key}"

    # Storage helpers ---------------------------------------------------------------------

    def _purge_expired(self) -> None:
        current = time.time()
        for job_id in [j for j, at in self._expires.items() if at <= current]:
            self._expires.pop(job_id, None)
            self._jobs.pop(job_id, None)
        for job_id in [j for j, at in self._aborts.items() if at <= current]:
            self._aborts.pop(job_id, None)

    def _store(self, job: Job, ttl: float | None = None) -> None:
        self._jobs[job.id] = self.serialize(job)
        if ttl is None:
            self._expires.pop(job.id, None)
        else:
            self._expires[job.id] = time.time() + ttl

    def _get(self, job_id: str) -> Job | None:
        self._purge_expired()
        payload = self._jobs.get(job_id)
        return self.deserialize(payload) if payload is not None else None

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # Queue interface ---------------------------------------------------------------------

    async def disconnect(self) -> None:
        return None

    async def info(self, jobs: bool = False, offset: int = 0, limit: int = 10) -> Any:
        current = now()
        workers = {wid: info for wid, (until, info) in self._workers.items() if until > current}
        queued = await self.count("queued")
        active = await self.count("active")
        incomplete = await self.count("incomplete")
        job_info: list[dict[str, Any]] = []
        if jobs:
            ids = self._active[offset:limit] + list(self._incomplete)[offset:limit]
            seen: dict[str, dict[str, Any]] = {}
            for job_id in ids:
                job = self._get(job_id)
                if job is not None:
                    seen[job.key] = job.to_dict()
            job_info = list(seen.values())
        return {
            "workers": workers,
            "name": self.name,
            "queued": queued,
            "active": active,
            "scheduled": incomplete - queued - active,
            "jobs": job_info,
        }

    async def count(self, kind: str) -> int:
        if kind == "queued":
            return len(self._queued)
        if kind == "active":
            return len(self._active)
        if kind == "incomplete":
            return len(self._incomplete)
        raise ValueError(f"Can't count unknown type {kind}")

    async def schedule(self, lock: int = 1) -> list[str]:
        current = now_seconds()
        if self._schedule_lock_until > current:
            return []
        self._schedule_lock_until = current + lock
        due = [j for j, at in self._incomplete.items() if 1 <= at <= current]
        for job_id in due:
            self._incomplete[job_id] = 0
            self._queued.append(job_id)
        if due:
            await self._wake()
        return due

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        current = time.time()
        if self._sweep_lock_until > current:
            return []
        self._sweep_lock_until = current + lock
        swept: list[str] = []
        for job_id in list(self._active):
            job = self._get(job_id)
            if job is None:
                swept.append(job_id)
                self._remove(self._active, job_id)
                self._incomplete.pop(job_id, None)
                continue
            if job.status != Status.ACTIVE or job.stuck:
                swept.append(job_id)
                await self.abort(job, error=self.swept_error_message)
                with contextlib.suppress(TimeoutError):
                    await job.refresh(abort)
                if job.retryable:
                    await self.retry(job, error=self.swept_error_message)
                else:
                    await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        return swept

    async def _update(self, job: Job, status: Status | None = None, **kwargs: Any) -> None:
        if not status:
            stored = await self.job(job.key)
            status = stored.status if stored else None
        job.status = status or job.status
        self._store(job, ttl=self._remaining_ttl(job.id))
        await self._wake()

    def _remaining_ttl(self, job_id: str) -> float | None:
        at = self._expires.get(job_id)
        return None if at is None else max(0.0, at - time.time())

    async def job(self, job_key: str) -> Job | None:
        return self._get(self.job_id(job_key))

    async def jobs(self, job_keys: Iterable[str]) -> list[Job | None]:
        return [self._get(self.job_id(key)) for key in job_keys]

    async def iter_jobs(
        self, statuses: list[Status] = list(Status), batch_size: int = 100
    ) -> AsyncIterator[Job]:
        wanted = set(statuses)
        for job_id in list(self._jobs):
            job = self._get(job_id)
            if job is not None and job.status in wanted:
                yield job

    async def abort(self, job: Job, error: str, ttl: float = 5) -> None:
        job.status = Status.ABORTING
        job.error = error
        was_queued = job.id in self._queued
        self._remove(self._queued, job.id)
        self._incomplete.pop(job.id, None)
        self._store(job, ttl=self._remaining_ttl(job.id))
        self._aborts[job.id] = time.time() + ttl
        await self._wake()
        if was_queued:
            await self.finish(job, Status.ABORTED, error=error)
            self._aborts.pop(job.id, None)
        else:
            self._remove(self._active, job.id)

    async def finish_abort(self, job: Job) -> None:
        self._aborts.pop(job.id, None)
        await super().finish_abort(job)

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:
        deadline = None if not timeout else time.monotonic() + timeout
        async with self._changed:
            while not self._queued:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    return None
            job_id = self._queued.popleft()
            self._active.append(job_id)
        return self._get(job_id)

    async def write_worker_info(self, worker_id: str, info: Any, ttl: int) -> None:
        self._workers[worker_id] = (now() + millis(ttl), info)

    async def _retry(self, job: Job, error: str | None) -> None:
        delay = job.next_retry_delay()
        self._remove(self._active, job.id)
        self._remove(self._queued, job.id)
        if delay:
            self._incomplete[job.id] = time.time() + delay
        else:
            self._incomplete[job.id] = job.scheduled
            self._queued.append(job.id)
        self._store(job)
        await self._wake()

    async def _finish(
        self, job: Job, status: Status, *, result: Any = None, error: str | None = None
    ) -> None:
        self._remove(self._active, job.id)
        self._incomplete.pop(job.id, None)
        if job.ttl > 0:
            self._store(job, ttl=job.ttl)
        elif job.ttl == 0:
            self._store(job)
        else:
            self._jobs.pop(job.id, None)
            self._expires.pop(job.id, None)
        await self._wake()

    async def _enqueue(self, job: Job) -> Job | None:
        self._purge_expired()
        if job.id in self._incomplete or job.id in self._aborts:
            return None
        self._store(job)
        self._incomplete[job.id] = job.scheduled
        if not job.scheduled:
            self._queued.append(job.id)
            await self._wake()
        return job

    @staticmethod
    def _remove(items: list[str] | deque[str], job_id: str) -> None:
        try:
            items.remove(job_id)
        except ValueError:
            return
