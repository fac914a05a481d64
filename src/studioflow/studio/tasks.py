"""Jobs of the studio: execution slices (on the ``studio`` queue) and the recovery sweep."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from studioflow.platform.jobs import task
from studioflow.studio import runner

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform


# One slice lasts studio_slice_seconds plus the items still in flight (each bounded by the
# item timeout). SAQ's own retry is a second line behind the lease-based recovery.
@task("studio.execute", queue="studio", timeout=900, retries=2, retry_delay=5.0, ttl=600)
async def execute(platform: Platform, execution_id: str, slice_no: int) -> str:
    return await runner.run_slice(platform, uuid.UUID(execution_id), slice_no)


@task("studio.recover", cron="* * * * *", timeout=60, retries=1)
async def recover(platform: Platform) -> int:
    """Every minute: queue again the executions whose job or worker was lost."""
    return await runner.recover(platform)
