"""Scheduled jobs of the media feature."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from studioflow.media import analytics
from studioflow.media.repository import ImageRepository
from studioflow.platform.jobs import task

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.media.tasks")


@task("media.purge_expired", cron="*/10 * * * *", timeout=900, retries=3)
async def purge_expired(platform: Platform) -> int:
    """Every 10 minutes: delete images whose expiry has passed, with every stored copy."""
    removed = 0
    while True:
        async with platform.db.transaction() as session:
            images = ImageRepository(session)
            batch = await images.expired(datetime.now(UTC), limit=200)
            keys: list[str] = []
            for image in batch:
                variants = await images.variant_keys(image.id)
                keys += [image.original_key, image.public_key, *variants]
                await images.delete(image)
        # Rows first, files after the commit: a crash in between leaves orphans that fsck finds.
        for key in keys:
            await platform.storage.delete(key)
        removed += len(batch)
        if len(batch) < 200:
            break
    if removed:
        log.info("media.expired_purged", count=removed)
    return removed


@task("media.flush_views", cron="* * * * *", timeout=300, retries=3)
async def flush_views(platform: Platform) -> int:
    """Every minute: write the buffered view events to the database in batches."""
    return await analytics.flush(platform)


@task("media.rollup_views", cron="*/10 * * * *", timeout=600, retries=3)
async def rollup_views(platform: Platform) -> None:
    """Every 10 minutes: recompute today's and yesterday's daily roll-ups."""
    await analytics.flush(platform)
    await analytics.rollup(platform)


@task("media.prune_views", cron="41 2 * * *", timeout=1800, retries=3)
async def prune_views(platform: Platform) -> int:
    """Daily: drop raw view events older than the retention period (roll-ups stay)."""
    return await analytics.prune(
        platform, retention_days=platform.settings.analytics_retention_days
    )
