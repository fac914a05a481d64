"""Support's background work."""

from __future__ import annotations

from studioflow.platform.jobs import task
from studioflow.platform.runtime import Platform
from studioflow.support import service


@task("support.close_resolved", cron="41 * * * *", timeout=300, retries=3)
async def close_resolved(platform: Platform) -> int:
    """Hourly: close the tickets resolved more than 7 days ago (each emailed)."""
    return await service.close_resolved(platform)
