"""The job queues as platform admins see them, and the one thing they may do to a job: abort
it. Everything goes through SAQ's public ``Queue.info``, ``Queue.job`` and ``Job.abort``, the
calls SAQ's own monitor makes; this replaces that monitor in the console (its page is
third-party and fails the accessibility check).

Job arguments are never shown: they are the tasks' business (mail travels sealed anyway).
Retrying is not offered: SAQ lists only unfinished jobs, and its ``retry`` puts a running job
back in the queue, which would run it twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from saq.job import Status
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.platform.errors import Conflict, NotFound
from studioflow.platform.runtime import Platform

LISTED = 25
ABORTABLE = {Status.NEW, Status.QUEUED, Status.ACTIVE}


def _when(milliseconds: Any) -> datetime | None:
    if not milliseconds:
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)


def _job(job: dict[str, Any]) -> dict[str, Any]:
    status = job.get("status")
    error = (job.get("error") or "").strip()
    return {
        "key": job.get("key", ""),
        "function": job.get("function", ""),
        "status": str(getattr(status, "value", status)),
        "attempts": job.get("attempts", 0),
        "retries": job.get("retries", 0),
        "queued_at": _when(job.get("queued")),
        "scheduled_at": _when(job.get("scheduled")),
        "started_at": _when(job.get("started")),
        "error": error[-4000:],
        "abortable": str(getattr(status, "value", status)) in {s.value for s in ABORTABLE},
    }


async def queues(platform: Platform) -> list[dict[str, Any]]:
    """Each queue: its workers, depth by state and its running or waiting jobs."""
    found = []
    for name, queue in platform.queue.queues.items():
        info = await queue.info(jobs=True, limit=LISTED)
        found.append(
            {
                "name": name,
                "saq_name": info["name"],
                "workers": len(info["workers"]),
                "queued": info["queued"],
                "active": info["active"],
                "scheduled": info["scheduled"],
                "jobs": [_job(job) for job in info["jobs"]],
            }
        )
    return found


async def abort(
    platform: Platform, session: AsyncSession, principal: Principal, queue_name: str, key: str
) -> dict[str, Any]:
    """Abort a job that has not finished: a waiting one never runs, a running one is
    cancelled by its worker within seconds (SAQ's abort check). 404 for an unknown queue or
    job, 409 ``conflict`` once it has finished."""
    queue = platform.queue.queues.get(queue_name)
    job = await queue.job(key) if queue is not None else None
    if job is None:
        raise NotFound("No such job.")
    if job.status not in ABORTABLE:
        raise Conflict(f"The job has finished ({job.status.value}); there is nothing to abort.")
    await job.abort("aborted by a platform admin")
    await audit.record(
        session,
        "admin.job_aborted",
        actor_user_id=principal.user_id,
        queue=queue_name,
        function=job.function,
        key=key,
    )
    return _job({**job.to_dict(), "status": Status.ABORTING})
