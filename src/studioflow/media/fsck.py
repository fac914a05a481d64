"""Storage consistency: objects without rows and rows without objects, reported and repaired."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from studioflow.media.repository import ImageRepository
from studioflow.platform.runtime import Platform

# An upload stores its files before its row commits; younger orphans may be in flight.
GRACE = timedelta(hours=1)


@dataclass
class Report:
    objects_checked: int = 0
    rows_checked: int = 0
    orphan_objects: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)
    repaired: int = 0


async def check(platform: Platform, *, repair: bool = False) -> Report:
    report = Report()
    known: set[str] = set()
    missing_rows: list[tuple[str, str]] = []
    async with platform.db.read() as session:
        images = ImageRepository(session)
        for image in await images.every():
            report.rows_checked += 1
            known.update({image.original_key, image.public_key})
            for key in (image.original_key, image.public_key):
                if await platform.storage.head(key) is None:
                    missing_rows.append(("image", str(image.id)))
                    report.missing_objects.append(key)
        for variant in await images.every_variant():
            report.rows_checked += 1
            known.add(variant.storage_key)
            if await platform.storage.head(variant.storage_key) is None:
                missing_rows.append(("variant", str(variant.id)))
                report.missing_objects.append(variant.storage_key)
    cutoff = datetime.now(UTC) - GRACE
    async for info in platform.storage.list("clients/"):
        if "/images/" not in info.key:
            continue
        report.objects_checked += 1
        if info.key not in known:
            report.orphan_objects.append(info.key)
            if repair and info.last_modified < cutoff:
                await platform.storage.delete(info.key)
                report.repaired += 1
    if repair and missing_rows:
        async with platform.db.transaction() as session:
            writer = ImageRepository(session)
            for kind, row_id in missing_rows:
                if kind == "variant":
                    broken_variant = await writer.variant(uuid.UUID(row_id))
                    if broken_variant is not None:
                        await session.delete(broken_variant)  # re-rendered on the next request
                        report.repaired += 1
                    continue
                broken_image = await writer.by_id(uuid.UUID(row_id))
                if broken_image is not None:
                    for key in (broken_image.original_key, broken_image.public_key):
                        await platform.storage.delete(key)
                    await writer.delete(broken_image)
                    report.repaired += 1
    return report
