"""Scheduled jobs of the media feature."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from studioflow.models import Image, ImageVariant
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
            batch = list(
                (
                    await session.scalars(
                        select(Image)
                        .where(Image.expires_at <= datetime.now(UTC))
                        .limit(200)
                        .with_for_update()
                    )
                ).all()
            )
            keys: list[str] = []
            for image in batch:
                variants = await session.scalars(
                    select(ImageVariant.storage_key).where(ImageVariant.image_id == image.id)
                )
                keys += [image.original_key, image.public_key, *variants.all()]
                await session.delete(image)
        # Rows first, files after the commit: a crash in between leaves orphans that fsck finds.
        for key in keys:
            await platform.storage.delete(key)
        removed += len(batch)
        if len(batch) < 200:
            break
    if removed:
        log.info("media.expired_purged", count=removed)
    return removed
