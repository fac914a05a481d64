"""Direct uploads (seed 001's presigned uploads): large files go from the client to the store
without passing through an app process's memory twice.

1. ``start``: the client says what it sends (name, type, size, purpose); sizes and types are
   checked now, so a refusal costs no transfer. It gets a URL to PUT exactly those bytes to
   for an hour (``Storage.upload_target``: an S3 presigned PUT whose signature binds the
   size and type, or this app's signed ``PUT /uploads/…`` on local storage).
2. ``complete``: the bytes sent are checked exactly as ``POST /upload`` checks them (type by
   content, size, pixels; 415/413/422) and become the image (``purpose=image``) or a studio
   reference that expires (``purpose=reference``, seed 001's originals). The sent object is
   deleted whatever the outcome, so a refusal leaves nothing behind.
3. ``purge_stale``: bytes sent but never completed go after the intermediates' TTL.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import structlog
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers

from studioflow.billing.plans import plan_of
from studioflow.identity.auth import Principal
from studioflow.media import service
from studioflow.media.repository import UploadRepository
from studioflow.media.sniff import MIME
from studioflow.models import PendingUpload, UploadPurpose, UploadState
from studioflow.models.base import uuid7
from studioflow.platform.db import after_commit
from studioflow.platform.errors import (
    AppError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from studioflow.platform.loops import in_background
from studioflow.platform.runtime import Platform
from studioflow.platform.storage import UPLOAD_PREFIX, UploadTarget

log = structlog.get_logger("studioflow.media.direct_uploads")

URL_TTL = timedelta(hours=1)
IMAGE_TYPES = frozenset(MIME.values())


def upload_key(client_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    return f"{UPLOAD_PREFIX}{client_id}/{upload_id}"


async def start(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    *,
    filename: str,
    content_type: str,
    size: int,
    purpose: str,
    title: str | None = None,
    album_id: uuid.UUID | None = None,
    is_public: bool | None = None,
) -> tuple[PendingUpload, UploadTarget]:
    if purpose == UploadPurpose.video:
        raise Unprocessable(
            "Video uploads arrive with reels; upload images for now.", code="purpose_unavailable"
        )
    content_type = content_type.split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise UnsupportedMediaType("Upload a JPEG, PNG, GIF, WebP, AVIF or BMP image.")
    limit = await _limit(platform, session, principal, purpose)
    if size > limit:
        raise PayloadTooLarge(f"The file is larger than the limit of {limit:,} bytes.")
    if album_id is not None:
        await service.get_album(session, principal, album_id)  # 404 for another's
    upload_id = uuid7()
    key = upload_key(principal.client_id, upload_id)
    now = datetime.now(UTC)
    row = PendingUpload(
        id=upload_id,
        client_id=principal.client_id,
        created_by=principal.user_id,
        purpose=UploadPurpose(purpose),
        filename=filename,
        content_type=content_type,
        bytes=size,
        storage_key=key,
        title=title,
        album_id=album_id,
        is_public=is_public,
        url_expires_at=now + URL_TTL,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    target = platform.storage.upload_target(
        key, content_type=content_type, length=size, expires_in=URL_TTL
    )
    return row, target


async def _limit(
    platform: Platform, session: AsyncSession, principal: Principal, purpose: str
) -> int:
    plan = await plan_of(session, principal.client_id)
    if purpose == UploadPurpose.reference:
        return min(plan.max_upload_bytes, (await platform.site.get()).max_original_bytes)
    return int(plan.max_upload_bytes)


async def complete(
    platform: Platform,
    read: AsyncSession,
    session: AsyncSession,
    principal: Principal,
    upload_id: uuid.UUID,
) -> service.Uploaded:
    """The image of the upload; again for a completed one (a retried completion)."""
    row = await UploadRepository(read).get_readable(principal, upload_id)
    if row is None:
        raise NotFound("No such upload.")
    if row.state == UploadState.completed:
        return await _done(session, principal, row)
    info = await platform.storage.head(row.storage_key)
    if info is None:
        raise Conflict(
            "No bytes have arrived at the upload URL (or they were refused, or expired).",
            code="upload_missing",
        )
    try:
        if info.size != row.bytes:
            raise Unprocessable(
                f"{info.size:,} bytes arrived; the upload declared {row.bytes:,}.",
                code="size_mismatch",
            )
        site = await platform.site.get()
        reference = row.purpose == UploadPurpose.reference
        handle = await _fetch(platform, row.storage_key)
        try:
            upload = UploadFile(
                file=handle,
                filename=row.filename,
                headers=Headers({"content-type": row.content_type}),
            )
            (result,) = await service.upload_images(
                platform,
                read,
                session,
                principal,
                [upload],
                title=row.title,
                album_id=row.album_id,
                is_public=False if reference else row.is_public,
                max_bytes=await _limit(platform, read, principal, row.purpose),
                expires_at=site.expiry(site.ttl_originals_days, datetime.now(UTC))
                if reference
                else None,
            )
        finally:
            handle.close()
    except AppError:
        # Refused: the bytes go now; a later completion answers upload_missing.
        await platform.storage.delete(row.storage_key)
        raise
    locked = await UploadRepository(session).locked(principal, upload_id)
    if locked is None:  # pragma: no cover - deleted with its workspace meanwhile
        raise NotFound("No such upload.")
    locked.state = UploadState.completed
    locked.image_id = result.image.id
    locked.completed_at = datetime.now(UTC)
    key = row.storage_key

    async def drop_sent_bytes() -> None:
        await platform.storage.delete(key)

    after_commit(session, drop_sent_bytes)
    return result


async def _done(
    session: AsyncSession, principal: Principal, row: PendingUpload
) -> service.Uploaded:
    if row.image_id is None:
        raise NotFound("The image of this upload was deleted.")
    image = await service.get_image(session, principal, row.image_id)
    return service.Uploaded(image=image, duplicate=True)


async def _fetch(platform: Platform, key: str) -> BinaryIO:
    """The sent object in a temporary file of our own (the checks read it twice)."""
    staging = platform.settings.data_dir / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    handle: Any = tempfile.TemporaryFile(dir=staging, prefix="direct-")  # noqa: SIM115
    try:
        async for chunk in platform.storage.stream(key):
            await in_background(handle.write, chunk)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    result: BinaryIO = handle
    return result


async def purge_stale(platform: Platform, *, now: datetime | None = None) -> int:
    """Bytes sent to upload URLs more than the intermediates' TTL ago (completed ones were
    deleted on completion; these were never completed, or their workspace is gone), and the
    records of those uploads."""
    hours = (await platform.site.get()).ttl_intermediates_hours
    before = (now or datetime.now(UTC)) - timedelta(hours=hours)
    removed = 0
    async for info in platform.storage.list(UPLOAD_PREFIX):
        if info.last_modified < before:
            await platform.storage.delete(info.key)
            removed += 1
    async with platform.db.transaction() as session:
        await UploadRepository(session).delete_older_than(before)
    if removed:
        log.info("media.stale_uploads_purged", count=removed)
    return removed
