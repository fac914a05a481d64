"""Jobs of the studio: execution slices (on the ``studio`` queue), the recovery sweep, and
pruning what only needs to live for a while."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from studioflow.platform import idempotency
from studioflow.platform.jobs import task
from studioflow.studio import runner
from studioflow.studio.repository import EngineRepository

# Live events replay reconnecting clients; a month after an execution ended nobody will.
EVENTS_KEPT = timedelta(days=30)

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform


# One slice lasts studio_slice_seconds plus the items still in flight (each bounded by the
# item timeout). SAQ's own retry is a second line behind the lease-based recovery.
@task(
    "studio.execute",
    queue="studio",
    timeout=900,
    heartbeat=60,
    retries=2,
    retry_delay=5.0,
    ttl=600,
)
async def execute(platform: Platform, execution_id: str, slice_no: int) -> str:
    return await runner.run_slice(platform, uuid.UUID(execution_id), slice_no)


@task("studio.recover", cron="* * * * *", timeout=60, retries=1)
async def recover(platform: Platform) -> int:
    """Every minute: queue again the executions whose job or worker was lost."""
    return await runner.recover(platform)


async def prune_old(platform: Platform, *, now: datetime | None = None) -> dict[str, int]:
    """Drop execution events a month after their execution ended, and idempotency answers
    older than their 24 hours. The executions and their items stay."""
    cutoff = (now or datetime.now(UTC)) - EVENTS_KEPT
    async with platform.db.transaction() as session:
        events = await EngineRepository(session).prune_events(cutoff)
        answers = await idempotency.prune(session, now=now)
    return {"events": events, "idempotency": answers}


@task("studio.prune", cron="25 3 * * *", timeout=600, retries=2)
async def prune(platform: Platform) -> dict[str, int]:
    """Daily at 03:25 UTC."""
    return await prune_old(platform)
