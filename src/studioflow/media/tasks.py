"""Jobs of the media feature: scheduled housekeeping, and the page sizes of new images."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from studioflow.media import analytics, direct_uploads, variants
from studioflow.media.inspect import ImageRejected
from studioflow.media.repository import ImageRepository
from studioflow.media.variants import VariantSpec
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


@task("media.drop_old_previews", cron="23 * * * *", timeout=900, retries=3)
async def drop_old_previews(platform: Platform) -> int:
    """Hourly: the rendered sizes of studio results (seed 001's previews) older than their
    TTL go; a result still wanted renders them again when next shown."""
    days = (await platform.site.get()).ttl_previews_days
    if days <= 0:
        return 0
    before = datetime.now(UTC) - timedelta(days=days)
    dropped = 0
    while True:
        async with platform.db.transaction() as session:
            images = ImageRepository(session)
            batch = await images.old_result_previews(before, limit=500)
            keys = [variant.storage_key for variant in batch]
            for variant in batch:
                await session.delete(variant)
        for key in keys:  # rows first: a crash between leaves files fsck finds
            await platform.storage.delete(key)
        dropped += len(batch)
        if len(batch) < 500:
            break
    if dropped:
        log.info("media.previews_dropped", count=dropped)
    return dropped


@task("media.purge_stale_uploads", cron="47 * * * *", timeout=900, retries=3)
async def purge_stale_uploads(platform: Platform) -> int:
    """Hourly: bytes sent to direct-upload URLs and never completed, after their TTL."""
    return await direct_uploads.purge_stale(platform)


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


# The sizes every page shows (gallery tiles, the studio's picker and result grid): rendered
# right after the upload, so a page of fresh images is served from stored variants instead
# of asking the render queue for dozens of sizes at once.
PRESETS_AT_UPLOAD = ("thumb", "small")


@task("media.render_presets", timeout=300, retries=2, retry_delay=5.0)
async def render_presets(platform: Platform, *, image_id: str) -> int:
    """Render the page sizes of a new image; the number rendered or found ready. An image
    deleted meanwhile, or one the renderer refuses, is left alone (the route would answer
    the same refusal)."""
    async with platform.db.read() as session:
        image = await ImageRepository(session).by_id(uuid.UUID(image_id))
    if image is None:
        return 0
    done = 0
    for name in PRESETS_AT_UPLOAD:
        try:
            await variants.get_variant(platform, image, VariantSpec.preset(name, image.format))
        except ImageRejected as refused:
            log.warning("media.preset_refused", image_id=image_id, code=refused.code)
            return done
        done += 1
    return done
