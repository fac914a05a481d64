"""Uploads and the image records: checked by content, deduplicated per client, stored under
the client's prefix, counted against the plan atomically. A failed or refused upload leaves
no file behind."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing.plans import plan_of
from studioflow.identity.auth import Principal
from studioflow.identity.lifecycle import client_prefix
from studioflow.media import archive
from studioflow.media.camera import camera_facts
from studioflow.media.inspect import ImageFacts, ImageRejected, inspect_image
from studioflow.media.repository import AlbumRepository, ImageRepository
from studioflow.media.sniff import EXTENSION, sniff
from studioflow.media.strip import public_copy
from studioflow.models import Album, Client, Image, Plan
from studioflow.models.base import uuid7
from studioflow.platform.db import after_commit, on_rollback
from studioflow.platform.errors import (
    AppError,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    Unprocessable,
    UnsupportedMediaType,
)
from studioflow.platform.loops import PerLoop, in_background
from studioflow.platform.pagination import (
    PageParams,
)
from studioflow.platform.repository import Scope
from studioflow.platform.runtime import Platform

CHUNK = 1024 * 1024
# Decoding is CPU and memory heavy: a bounded number at once per process.
_processing = PerLoop(lambda: asyncio.Semaphore(max(1, (os.cpu_count() or 2) - 1)))


class StorageQuotaExceeded(QuotaExceeded):
    status = 413


@dataclass(frozen=True)
class Uploaded:
    image: Image
    duplicate: bool


def safe_filename(raw: str | None, fmt: str) -> str:
    """A display name from what the client sent: no paths, no control characters, bounded."""
    name = unicodedata.normalize("NFKC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if not name:
        name = f"image.{EXTENSION[fmt]}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def image_keys(client_id: uuid.UUID, image_id: uuid.UUID, fmt: str) -> tuple[str, str]:
    base = f"{client_prefix(client_id)}images/{image_id}"
    ext = EXTENSION[fmt]
    return f"{base}/original.{ext}", f"{base}/public.{ext}"


async def _spool(platform: Platform, upload: UploadFile, limit: int) -> tuple[Path, str, int]:
    """Copy the upload to our own temporary file, hashing as it goes, in a worker thread: the
    request body is whole in Starlette's spooled file by now, and copying and hashing
    megabytes in the event loop's thread held every other request back."""
    staging = platform.settings.data_dir / "tmp"
    return await in_background(_copy_and_hash, upload.file, staging, limit)


def _copy_and_hash(source: BinaryIO, staging: Path, limit: int) -> tuple[Path, str, int]:
    staging.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=staging, prefix="upload-", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    digest = hashlib.sha256()
    size = 0
    try:
        with handle:
            source.seek(0)
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"The file is larger than the plan's limit of {limit:,} bytes."
                    )
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


async def upload_images(
    platform: Platform,
    read: AsyncSession,
    session: AsyncSession,
    principal: Principal,
    uploads: list[UploadFile],
    *,
    title: str | None = None,
    album_id: uuid.UUID | None = None,
    is_public: bool | None = None,
    max_bytes: int | None = None,
    source: str = "upload",
    expires_at: datetime | None = None,
) -> list[Uploaded]:
    """Check, store and record uploads: prepare every file with no transaction open
    (spooling, hashing, decoding and storage writes read through ``read`` only), then record
    them all in ``session``, the unit of work, whose first statement takes the write lock.
    A refused or failed file anywhere leaves no file of the request behind. ``max_bytes``
    lowers the plan's size limit (reference uploads); ``source`` and ``expires_at`` mark a
    studio reference, which expires."""
    plan = await plan_of(read, principal.client_id)
    limit = min(plan.max_upload_bytes, max_bytes or plan.max_upload_bytes)
    if album_id is not None:
        await get_album(read, principal, album_id)
    public = (
        _default_public(await read.get(Client, principal.client_id))
        if is_public is None
        else is_public
    )
    prepared: list[PreparedImage | Image] = []
    try:
        for upload in uploads:
            prepared.append(
                await _prepare_upload(platform, read, principal.client_id, plan, upload, limit)
            )
    except BaseException:
        await _discard_all(platform, prepared)
        raise
    stored = [p for p in prepared if isinstance(p, PreparedImage)]

    async def forget() -> None:
        # A later failure in the same request (a quota, the commit) undoes the rows; the
        # files go with them.
        await _discard_all(platform, stored)

    on_rollback(session, forget)
    results: list[Uploaded] = []
    for item, upload in zip(prepared, uploads, strict=True):
        if isinstance(item, Image):
            results.append(Uploaded(image=item, duplicate=True))
            continue
        # Quotas under the client's row lock, so racing uploads are counted one by one.
        await _check_quotas(
            session, principal.client_id, plan, new_bytes=item.size + item.public_size
        )
        image_id, duplicate = await _record(
            platform,
            session,
            item,
            filename=upload.filename,
            title=title,
            created_by=principal.user_id,
            is_public=public,
            source=source,
            expires_at=expires_at,
        )
        image = await ImageRepository(session).by_id(image_id)
        assert image is not None
        results.append(Uploaded(image=image, duplicate=duplicate))
    if album_id is not None:
        # Images the workspace had already go in the album too: that is what was asked.
        await AlbumRepository(session).add_images(
            platform.db.dialect,
            album_id,
            list(dict.fromkeys(r.image.id for r in results)),
            datetime.now(UTC),
        )
    return results


async def _prepare_upload(
    platform: Platform,
    read: AsyncSession,
    client_id: uuid.UUID,
    plan: Plan,
    upload: UploadFile,
    limit: int,
) -> PreparedImage | Image:
    """The stored, checked files of an upload, or the image the client already has of the
    same bytes (nothing stored then)."""
    path, content_hash, size = await _spool(platform, upload, limit)
    try:
        if size == 0:
            raise Unprocessable("The file is empty.", code="invalid_image")
        with path.open("rb") as handle:
            head = handle.read(64)
        fmt = sniff(head)
        if fmt is None:
            raise UnsupportedMediaType("Upload a JPEG, PNG, GIF, WebP, AVIF or BMP image.")
        existing = await ImageRepository(read).by_hash(client_id, content_hash)
        if existing is not None:
            return existing
        try:
            return await _prepare(
                platform, client_id, path, fmt, plan.max_pixels, content_hash, size
            )
        except ImageRejected as rejected:
            raise Unprocessable(rejected.detail, code=rejected.code) from None
    finally:
        path.unlink(missing_ok=True)


async def _discard_all(
    platform: Platform, items: list[PreparedImage] | list[PreparedImage | Image]
) -> None:
    for item in items:
        if isinstance(item, PreparedImage):
            await discard_prepared(platform, item)


@dataclass(frozen=True)
class PreparedImage:
    """An image checked and stored, not yet recorded (see :func:`record_generated`)."""

    image_id: uuid.UUID
    client_id: uuid.UUID
    fmt: str
    facts: ImageFacts
    content_hash: str
    size: int
    public_size: int
    original_key: str
    public_key: str


async def _prepare(
    platform: Platform,
    client_id: uuid.UUID,
    source: Path | bytes,
    fmt: str,
    max_pixels: int,
    content_hash: str,
    size: int,
) -> PreparedImage:
    """Check an image and store its original and public copy, outside any transaction
    (decoding and storage writes must not hold the database's write lock)."""
    stored: list[str] = []
    try:
        async with _processing.get():
            facts, public = await in_background(_check, source, fmt, max_pixels)
        image_id = uuid7()
        original_key, public_key = image_keys(client_id, image_id, fmt)
        await platform.storage.put(original_key, source, content_type=facts.mime_type)
        stored.append(original_key)
        await platform.storage.put(public_key, public, content_type=facts.mime_type)
        stored.append(public_key)
    except BaseException:
        await _delete_objects(platform, stored)
        raise
    return PreparedImage(
        image_id=image_id,
        client_id=client_id,
        fmt=fmt,
        facts=facts,
        content_hash=content_hash,
        size=size,
        public_size=len(public),
        original_key=original_key,
        public_key=public_key,
    )


async def prepare_generated(platform: Platform, client_id: uuid.UUID, data: bytes) -> PreparedImage:
    """Check a generated image like an upload and store its files, outside any transaction."""
    fmt = sniff(data[:64])
    if fmt is None:
        raise ImageRejected("invalid_image", "The provider's answer is not an image.")
    # From memory: a provider's answer is already whole in it (no staging file).
    return await _prepare(
        platform, client_id, data, fmt, 400_000_000, hashlib.sha256(data).hexdigest(), len(data)
    )


async def discard_prepared(platform: Platform, prepared: PreparedImage) -> None:
    await _delete_objects(platform, [prepared.original_key, prepared.public_key])


async def record_generated(
    platform: Platform,
    session: AsyncSession,
    prepared: PreparedImage,
    *,
    filename: str,
    title: str | None,
    created_by: uuid.UUID | None,
    expires_at: datetime | None,
) -> uuid.UUID:
    """The image row of a prepared result (its id): private, ``source="generated"``, not held
    to uploads/day (credits paid for it) though counted as storage, deleted at
    ``expires_at`` unless kept. Identical bytes (the placeholder is deterministic) share one
    image; the extra files go."""

    async def forget() -> None:
        await discard_prepared(platform, prepared)

    # Whatever happens to the transaction, files that no row points to go.
    on_rollback(session, forget)
    image_id, _ = await _record(
        platform,
        session,
        prepared,
        filename=filename,
        title=title,
        created_by=created_by,
        is_public=False,
        source="generated",
        expires_at=expires_at,
    )
    return image_id


async def _record(
    platform: Platform,
    session: AsyncSession,
    prepared: PreparedImage,
    *,
    filename: str | None,
    title: str | None,
    created_by: uuid.UUID | None,
    is_public: bool,
    source: str,
    expires_at: datetime | None = None,
) -> tuple[uuid.UUID, bool]:
    """Insert the row of prepared files: its id, and whether the client had these bytes
    already (a race); then the existing image stands and the prepared files go after the
    commit."""
    facts = prepared.facts
    values = {
        "id": prepared.image_id,
        "client_id": prepared.client_id,
        "uploaded_by": created_by,
        "title": title,
        "filename": safe_filename(filename, prepared.fmt),
        "content_hash": prepared.content_hash,
        "format": prepared.fmt,
        "mime_type": facts.mime_type,
        "bytes": prepared.size,
        "public_bytes": prepared.public_size,
        "width": facts.width,
        "height": facts.height,
        "frames": facts.frames,
        "has_alpha": facts.has_alpha,
        "dominant_color": facts.dominant_color,
        "blurhash": facts.blurhash,
        "is_public": is_public,
        "source": source,
        # Only a new row expires: bytes the client had already keep the image's own date.
        "expires_at": expires_at,
        "original_key": prepared.original_key,
        "public_key": prepared.public_key,
    }
    # One prebuilt statement whether or not the bytes are new (ON CONFLICT DO NOTHING).
    images = ImageRepository(session)
    inserted = await images.insert(platform.db.dialect, values)
    if inserted is not None:
        if platform.settings.media_render_at_upload:
            platform.queue.defer(
                session, "media.render_presets", key=f"presets:{inserted}", image_id=str(inserted)
            )
        return inserted, False
    existing = await images.by_hash(prepared.client_id, prepared.content_hash)
    if existing is None:  # pragma: no cover - the conflict row cannot vanish in our transaction
        raise LookupError("conflicting image not found")

    async def forget() -> None:
        await discard_prepared(platform, prepared)

    after_commit(session, forget)
    return existing.id, True


def _check(source: Path | bytes, fmt: str, max_pixels: int) -> tuple[ImageFacts, bytes]:
    """Blocking: the checks of an image and its public copy, in one trip to a thread."""
    facts = inspect_image(
        source if isinstance(source, Path) else io.BytesIO(source), fmt, max_pixels=max_pixels
    )
    return facts, public_copy(source, fmt, orientation=facts.orientation)


async def _delete_objects(platform: Platform, keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):
            await platform.storage.delete(key)


def _default_public(client: Client | None) -> bool:
    if client is None:
        return True
    return bool(client.settings.get("images_public_by_default", True))


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def storage_used(session: AsyncSession, client_id: uuid.UUID) -> int:
    return await ImageRepository(session).storage_used(client_id)


async def uploads_today(session: AsyncSession, client_id: uuid.UUID) -> int:
    return await ImageRepository(session).uploads_since(client_id, _start_of_day(datetime.now(UTC)))


async def _check_quotas(
    session: AsyncSession, client_id: uuid.UUID, plan: Plan, *, new_bytes: int
) -> None:
    await ImageRepository(session).lock_client(client_id)
    if await uploads_today(session, client_id) >= plan.uploads_per_day:
        tomorrow = _start_of_day(datetime.now(UTC)) + timedelta(days=1)
        raise QuotaExceeded(
            f"The plan allows {plan.uploads_per_day} uploads a day.",
            headers={"Retry-After": str(int((tomorrow - datetime.now(UTC)).total_seconds()) + 1)},
            extra={"quota": "uploads_per_day", "limit": plan.uploads_per_day},
        )
    used = await storage_used(session, client_id)
    if used + new_bytes > plan.storage_bytes:
        raise StorageQuotaExceeded(
            f"The plan's storage of {plan.storage_bytes:,} bytes is full.",
            extra={"quota": "storage_bytes", "limit": plan.storage_bytes, "used": used},
        )


# Records ---------------------------------------------------------------------------------


async def get_image(session: AsyncSession, principal: Principal, image_id: uuid.UUID) -> Image:
    image = await ImageRepository(session).get_readable(principal, image_id)
    if image is None:
        raise NotFound("No such image.")
    return image


async def camera_of(
    platform: Platform, session: AsyncSession, principal: Principal, image_id: uuid.UUID
) -> dict[str, str]:
    """The camera fields of the image's private original (for its owner's viewer)."""
    image = await get_image(session, principal, image_id)
    original = await platform.storage.read(image.original_key)
    return await asyncio.to_thread(camera_facts, original)


IMAGE_SORTS = ("newest", "oldest", "largest", "name")


async def list_images(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    album_id: uuid.UUID | None = None,
    public: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    search: str | None = None,
    sort: str = "newest",
) -> tuple[list[Image], str | None]:
    if sort not in IMAGE_SORTS:
        raise Unprocessable(f"sort must be one of: {', '.join(IMAGE_SORTS)}.", code="invalid_sort")
    return await ImageRepository(session).page(
        principal,
        params,
        album_id=album_id,
        public=public,
        created_after=created_after,
        created_before=created_before,
        search=(search or "").strip()[:100] or None,
        sort=sort,
    )


async def known_hashes(
    session: AsyncSession, principal: Principal, hashes: list[str]
) -> dict[str, uuid.UUID]:
    """Which of these SHA-256 hashes the active client has uploaded (the CLI resumes by it)."""
    if len(hashes) > 1000:
        raise Unprocessable("At most 1000 hashes per request.")
    wanted = [h.lower() for h in hashes if len(h) == 64]
    return await ImageRepository(session).known(principal, wanted)


async def owned_image_ids(
    session: AsyncSession, principal: Scope, image_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these images are the scope's client's."""
    images = ImageRepository(session)
    return set(await images.ids(principal, image_ids))


async def images_for_archive(
    session: AsyncSession, principal: Principal, image_ids: list[uuid.UUID]
) -> list[Image]:
    """The chosen images of the active client for a ZIP; 404 when none of them is theirs."""
    if len(image_ids) > archive.MAX_IMAGES:
        raise Unprocessable(
            f"At most {archive.MAX_IMAGES} images per archive.", code="too_many_images"
        )
    found = await ImageRepository(session).readable_many(principal, image_ids)
    if not found:
        raise NotFound("No such images.")
    return found


async def update_image(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    image_id: uuid.UUID,
    changes: dict[str, Any],
) -> Image:
    """Change an image's fields; ``album_ids`` is the whole set of its albums, ``album_id``
    (the older, one-album form) puts it in that one album alone, or in none when null."""
    image = await get_image(session, principal, image_id)
    if "album_id" in changes and "album_ids" in changes:
        raise Unprocessable("Send album_ids or album_id, not both.", code="validation_error")
    albums: list[uuid.UUID] | None = None
    if "album_ids" in changes:
        albums = list(dict.fromkeys(changes["album_ids"] or []))
    elif "album_id" in changes:
        albums = [] if changes["album_id"] is None else [changes["album_id"]]
    for album_id in albums or []:
        await get_album(session, principal, album_id)
    expires = changes.get("expires_at")
    if expires is not None and (expires.tzinfo is None or expires <= datetime.now(UTC)):
        raise Unprocessable("expires_at must be a future time with a UTC offset.")
    for field in ("title", "is_public", "expires_at", "keep_metadata"):
        if field in changes:
            setattr(image, field, changes[field])
    if albums is not None:
        repository = AlbumRepository(session)
        await repository.leave_all_but(image.id, albums)
        for album_id in albums:
            await repository.add_images(
                platform.db.dialect, album_id, [image.id], datetime.now(UTC)
            )
    await session.flush()
    return image


async def storage_of(session: AsyncSession, client_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Bytes each of these clients stores (originals, public copies, rendered sizes)."""
    return await ImageRepository(session).storage_of(client_ids)


async def expiries(
    session: AsyncSession, scope: Scope, image_ids: list[uuid.UUID]
) -> dict[uuid.UUID, datetime | None]:
    """When each of these images of the scope's client expires (None: never)."""
    images = await ImageRepository(session).readable_many(scope, image_ids)
    return {image.id: image.expires_at for image in images}


async def keep_images(session: AsyncSession, scope: Scope, image_ids: list[uuid.UUID]) -> int:
    """Take these images' expiry away (a studio result kept for the gallery); how many had
    one still ahead. Changed through the ORM, so the delivery caches hear of it."""
    kept = 0
    now = datetime.now(UTC)
    for image in await ImageRepository(session).readable_many(scope, image_ids):
        # An image past its date is gone already (delivery answers 404): not brought back.
        if image.expires_at is not None and image.expires_at > now:
            image.expires_at = None
            kept += 1
    await session.flush()
    return kept


async def delete_image(
    platform: Platform, session: AsyncSession, principal: Principal, image_id: uuid.UUID
) -> None:
    images = ImageRepository(session)
    image = await get_image(session, principal, image_id)
    keys = [image.original_key, image.public_key, *await images.variant_keys(image.id)]
    await images.delete(image)
    await images.flush()

    async def remove() -> None:
        await _delete_objects(platform, keys)

    after_commit(session, remove)


async def list_albums(session: AsyncSession, principal: Principal) -> list[tuple[Album, int]]:
    return (await page_of_albums(session, principal, None))[0]


async def page_of_albums(
    session: AsyncSession, principal: Principal, params: PageParams | None
) -> tuple[list[tuple[Album, int]], str | None]:
    return await AlbumRepository(session).with_counts(principal, params)


async def album_covers(
    session: AsyncSession, principal: Principal, albums: list[Album]
) -> dict[uuid.UUID, Image]:
    return await AlbumRepository(session).covers(principal, [a.id for a in albums])


async def create_album(session: AsyncSession, principal: Principal, title: str) -> Album:
    albums = AlbumRepository(session)
    album = albums.add(Album(client_id=principal.client_id, title=title))
    await albums.flush()
    return album


async def get_album(session: AsyncSession, principal: Principal, album_id: uuid.UUID) -> Album:
    album = await AlbumRepository(session).get_readable(principal, album_id)
    if album is None:
        raise NotFound("No such album.")
    return album


async def rename_album(
    session: AsyncSession, principal: Principal, album_id: uuid.UUID, title: str | None
) -> tuple[Album, int]:
    album = await get_album(session, principal, album_id)
    if title is not None:
        album.title = title
    await session.flush()
    return album, await AlbumRepository(session).count_of(principal, album.id)


async def image_albums(
    session: AsyncSession, principal: Principal, image_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The albums of each of these images, oldest membership first."""
    return await AlbumRepository(session).memberships(principal, image_ids)


async def add_to_album(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    album_id: uuid.UUID,
    image_ids: list[uuid.UUID],
) -> tuple[Album, int, int]:
    """Put many images in an album at once, all or none: an id that is not one of the
    workspace's images answers 404 and nothing changes. (album, how many went in, count)."""
    album = await get_album(session, principal, album_id)
    wanted = _some_images(image_ids)
    if len(await ImageRepository(session).ids(principal, wanted)) != len(wanted):
        raise NotFound("No such image.")
    repository = AlbumRepository(session)
    added = await repository.add_images(platform.db.dialect, album.id, wanted, datetime.now(UTC))
    return album, added, await repository.count_of(principal, album.id)


async def remove_from_album(
    session: AsyncSession, principal: Principal, album_id: uuid.UUID, image_ids: list[uuid.UUID]
) -> tuple[Album, int, int]:
    """Take images out of an album (they stay in the library and in their other albums)."""
    album = await get_album(session, principal, album_id)
    repository = AlbumRepository(session)
    removed = await repository.remove_images(album.id, _some_images(image_ids))
    return album, removed, await repository.count_of(principal, album.id)


def _some_images(image_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not image_ids:
        raise Unprocessable("Name at least one image in image_ids.", code="validation_error")
    return list(dict.fromkeys(image_ids))


async def delete_album(session: AsyncSession, principal: Principal, album_id: uuid.UUID) -> None:
    """Its images stay, in the library and in their other albums."""
    albums = AlbumRepository(session)
    await albums.delete(await get_album(session, principal, album_id))


__all__ = ["AppError", "ImageRejected", "Uploaded", "upload_images"]
