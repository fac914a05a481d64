"""HTTP layer of image upload and records (API.md, "Images"). Delivery is in ``delivery.py``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from studioflow.billing.plans import plan_of
from studioflow.identity.auth import platform_of
from studioflow.identity.hourly_limits import check_hourly
from studioflow.media import archive, direct_uploads, service, urls
from studioflow.media.auth import ImagesRead, ImagesWrite
from studioflow.media.schemas import (
    AlbumImagesIn,
    AlbumImagesOut,
    AlbumIn,
    AlbumOut,
    AlbumUpdate,
    ArchiveIn,
    DirectUploadIn,
    DirectUploadOut,
    ImageMetadata,
    ImageRead,
    ImageUpdate,
    KnownIn,
    KnownOut,
    QuotaOut,
    SeedImage,
    SeedUploadOut,
    TransformIn,
    TransformOut,
)
from studioflow.media.urls import transform_url, validate_transform
from studioflow.models import Album, Image
from studioflow.platform import flags
from studioflow.platform.db import ReadSessionDep, SessionDep
from studioflow.platform.errors import Unprocessable, answers
from studioflow.platform.pagination import Page, PageParams, page_params
from studioflow.platform.schemas import Moment

upload_router = APIRouter(tags=["images"])
router = APIRouter(tags=["images"])

MAX_FILES_PER_REQUEST = 20


def image_url(request: Request, image: Image, size: str | None = None) -> str:
    return urls.image_url(platform_of(request), image.id, size=size)


def image_read(
    request: Request, image: Image, albums: list[uuid.UUID], *, duplicate: bool = False
) -> ImageRead:
    return ImageRead(
        id=image.id,
        filename=image.filename,
        title=image.title,
        album_id=albums[0] if albums else None,
        album_ids=albums,
        format=image.format,
        mime_type=image.mime_type,
        bytes=image.bytes,
        width=image.width,
        height=image.height,
        frames=image.frames,
        has_alpha=image.has_alpha,
        dominant_color=image.dominant_color,
        blurhash=image.blurhash,
        is_public=image.is_public,
        keep_metadata=image.keep_metadata,
        expires_at=image.expires_at,
        views=image.views,
        url=image_url(request, image),
        thumbnail_url=image_url(request, image, "thumb"),
        created_at=image.created_at,
        duplicate=duplicate,
        signed_url=None if image.is_public else urls.signed_url(platform_of(request), image.id),
    )


@upload_router.post(
    "/upload",
    status_code=201,
    response_model=SeedUploadOut,
    responses=answers(
        {
            413: "The file is larger than the plan allows (`payload_too_large`).",
            415: "Not an image type Studioflow takes (`unsupported_media_type`).",
            429: "More uploads an hour than the platform allows (`rate_limited`).",
        }
    ),
)
async def upload(
    request: Request,
    read: ReadSessionDep,
    session: SessionDep,
    principal: ImagesWrite,
    file: Annotated[UploadFile, File(description="The image")],
    title: Annotated[str | None, Form(max_length=200)] = None,
    album_id: Annotated[uuid.UUID | None, Form()] = None,
    is_public: Annotated[bool | None, Form()] = None,
) -> SeedUploadOut:
    """Upload one image (multipart field ``file``); the hosting seed's answer shape."""
    await check_hourly(request, principal, "uploads_per_hour")
    (result,) = await service.upload_images(
        platform_of(request),
        read,
        session,
        principal,
        [file],
        title=title,
        album_id=album_id,
        is_public=is_public,
    )
    image = result.image
    return SeedUploadOut(
        duplicate=result.duplicate,
        image=SeedImage(
            id=image.id,
            filename=image.filename,
            url=image_url(request, image),
            thumbnail=image_url(request, image, "thumb"),
            view_url=urls.page_url(platform_of(request), image.id),
            metadata=ImageMetadata(
                width=image.width, height=image.height, size=image.bytes, format=image.format
            ),
        ),
    )


@upload_router.post(
    "/api/v1/images",
    status_code=201,
    response_model=list[ImageRead],
    responses=answers(
        {
            413: "A file is larger than the plan allows (`payload_too_large`).",
            415: ("A file is not an image type Studioflow takes (`unsupported_media_type`)."),
            429: "More uploads an hour than the platform allows (`rate_limited`).",
        }
    ),
)
async def upload_many(
    request: Request,
    read: ReadSessionDep,
    session: SessionDep,
    principal: ImagesWrite,
    file: Annotated[list[UploadFile], File(description="One or more images")],
    title: Annotated[str | None, Form(max_length=200)] = None,
    album_id: Annotated[uuid.UUID | None, Form()] = None,
    is_public: Annotated[bool | None, Form()] = None,
) -> list[ImageRead]:
    """Upload images (repeat the ``file`` field); all are checked, stored and counted."""
    if len(file) > MAX_FILES_PER_REQUEST:
        raise Unprocessable(
            f"At most {MAX_FILES_PER_REQUEST} files per request.", code="too_many_files"
        )
    await check_hourly(request, principal, "uploads_per_hour", cost=len(file))
    results = await service.upload_images(
        platform_of(request),
        read,
        session,
        principal,
        file,
        title=title,
        album_id=album_id,
        is_public=is_public,
    )
    albums = await service.image_albums(session, principal, [r.image.id for r in results])
    return [
        image_read(request, r.image, albums.get(r.image.id, []), duplicate=r.duplicate)
        for r in results
    ]


@upload_router.post(
    "/api/v1/uploads",
    status_code=201,
    response_model=DirectUploadOut,
    responses=answers(
        {
            413: "Larger than the plan (or, for a reference, the platform) allows "
            "(`payload_too_large`).",
            415: "Not an image type Studioflow takes (`unsupported_media_type`).",
            422: "`purpose=video` before reels exist (`purpose_unavailable`).",
            429: "More uploads an hour than the platform allows (`rate_limited`).",
        }
    ),
)
async def start_direct_upload(
    body: DirectUploadIn, request: Request, session: SessionDep, principal: ImagesWrite
) -> DirectUploadOut:
    """Start a direct upload, for large files: PUT exactly ``bytes`` bytes to
    ``upload_url`` with ``headers`` within the hour, then POST
    ``/api/v1/uploads/{upload_id}/complete``."""
    await check_hourly(request, principal, "uploads_per_hour")
    row, target = await direct_uploads.start(
        platform_of(request),
        session,
        principal,
        filename=body.filename,
        content_type=body.content_type,
        size=body.bytes,
        purpose=body.purpose,
        title=body.title,
        album_id=body.album_id,
        is_public=body.is_public,
    )
    return DirectUploadOut(
        upload_id=row.id,
        upload_url=target.url,
        headers=target.headers,
        expires_at=row.url_expires_at,
    )


@upload_router.post(
    "/api/v1/uploads/{upload_id}/complete",
    status_code=201,
    response_model=ImageRead,
    responses=answers(
        {
            409: "No bytes arrived at the upload URL, or they were refused (`upload_missing`).",
            413: "The file is larger than allowed (`payload_too_large`).",
            415: "Not an image type Studioflow takes (`unsupported_media_type`).",
            422: "Not the declared size (`size_mismatch`) or not a usable image.",
        }
    ),
)
async def complete_direct_upload(
    upload_id: uuid.UUID,
    request: Request,
    read: ReadSessionDep,
    session: SessionDep,
    principal: ImagesWrite,
) -> ImageRead:
    """Check the sent bytes as ``POST /upload`` does and make the image (a reference
    expires); the sent object is deleted whatever the outcome. Completing again answers
    the same image."""
    result = await direct_uploads.complete(
        platform_of(request), read, session, principal, upload_id
    )
    albums = await service.image_albums(session, principal, [result.image.id])
    return image_read(
        request, result.image, albums.get(result.image.id, []), duplicate=result.duplicate
    )


@router.get("/api/v1/images", response_model=Page[ImageRead])
async def list_images(
    request: Request,
    session: SessionDep,
    principal: ImagesRead,
    params: Annotated[PageParams, Depends(page_params)],
    album: uuid.UUID | None = None,
    public: bool | None = None,
    created_after: Annotated[Moment | None, Query()] = None,
    created_before: Annotated[Moment | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[str, Query(max_length=10)] = "newest",
) -> Page[ImageRead]:
    """The active client's images (filters: album, public, created range, ``q`` in the
    title or file name; ``sort``: newest, oldest, largest or name)."""
    images, cursor = await service.list_images(
        session,
        principal,
        params,
        album_id=album,
        public=public,
        created_after=created_after,
        created_before=created_before,
        search=q,
        sort=sort,
    )
    albums = await service.image_albums(session, principal, [i.id for i in images])
    return Page(
        items=[image_read(request, i, albums.get(i.id, [])) for i in images], next_cursor=cursor
    )


@router.post(
    "/api/v1/images/archive",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}},
        **answers({404: "None of the images is the workspace's (`not_found`)."}),
    },
)
async def archive_images(
    body: ArchiveIn, request: Request, session: SessionDep, principal: ImagesRead
) -> StreamingResponse:
    """A ZIP of the chosen originals (up to 200), streamed; images of other workspaces are
    left out as if they did not exist. 403 ``feature_disabled`` when the
    ``media.archive_download`` flag is off."""
    await flags.require(platform_of(request).db, "media.archive_download", principal)
    chosen = await service.images_for_archive(session, principal, body.image_ids)
    return StreamingResponse(
        archive.zip_of(platform_of(request), chosen),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="images.zip"'},
    )


@router.get("/api/v1/images/{image_id}", response_model=ImageRead)
async def get_image(
    image_id: uuid.UUID, request: Request, session: SessionDep, principal: ImagesRead
) -> ImageRead:
    """One image's record."""
    image = await service.get_image(session, principal, image_id)
    albums = await service.image_albums(session, principal, [image.id])
    return image_read(request, image, albums.get(image.id, []))


@router.get("/api/v1/images/{image_id}/camera", response_model=dict[str, str])
async def image_camera(
    image_id: uuid.UUID, request: Request, session: SessionDep, principal: ImagesRead
) -> dict[str, str]:
    """What the camera wrote in the private original (make, model, lens, exposure, aperture,
    iso, focal_length, taken_at); never the location. Empty when it wrote nothing."""
    return await service.camera_of(platform_of(request), session, principal, image_id)


@router.patch("/api/v1/images/{image_id}", response_model=ImageRead)
async def update_image(
    image_id: uuid.UUID,
    body: ImageUpdate,
    request: Request,
    session: SessionDep,
    principal: ImagesWrite,
) -> ImageRead:
    """Change title, visibility, albums (``album_ids``, the whole set; or ``album_id``, one
    album alone), expiry or the metadata opt-in."""
    image = await service.update_image(
        platform_of(request), session, principal, image_id, body.model_dump(exclude_unset=True)
    )
    albums = await service.image_albums(session, principal, [image.id])
    return image_read(request, image, albums.get(image.id, []))


@router.delete("/api/v1/images/{image_id}", status_code=204)
async def delete_image(
    image_id: uuid.UUID, request: Request, session: SessionDep, principal: ImagesWrite
) -> Response:
    """Delete an image and every stored copy of it."""
    await service.delete_image(platform_of(request), session, principal, image_id)
    return Response(status_code=204)


@upload_router.get("/upload/quota", response_model=QuotaOut)
async def quota(request: Request, session: SessionDep, principal: ImagesRead) -> QuotaOut:
    """The active client's plan and what it has used."""
    plan = await plan_of(session, principal.client_id)
    platform = platform_of(request)
    counters = platform.counters
    now = datetime.now(UTC)
    bandwidth_key = f"bandwidth:{principal.client_id}:{now:%Y%m}"
    return QuotaOut(
        plan=plan.name,
        uploads_today=await service.uploads_today(session, principal.client_id),
        upload_limit_per_day=plan.uploads_per_day,
        storage_used=await service.storage_used(session, principal.client_id),
        storage_limit=plan.storage_bytes,
        bandwidth_used_month=await platform.tally.total(bandwidth_key),
        bandwidth_limit=plan.bandwidth_bytes_month,
        api_requests_this_hour=await counters.get(f"api:{principal.client_id}:{now:%Y%m%d%H}"),
        api_request_limit=plan.api_requests_per_hour,
    )


@router.get("/api/v1/albums", response_model=Page[AlbumOut])
async def list_albums(
    session: SessionDep,
    principal: ImagesRead,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[AlbumOut]:
    """The active client's albums by title, with their image counts."""
    rows, cursor = await service.page_of_albums(session, principal, params)
    return Page(
        items=[
            AlbumOut(id=a.id, title=a.title, images=n, created_at=a.created_at) for a, n in rows
        ],
        next_cursor=cursor,
    )


@router.post("/api/v1/albums", status_code=201, response_model=AlbumOut)
async def create_album(body: AlbumIn, session: SessionDep, principal: ImagesWrite) -> AlbumOut:
    """Create an album."""
    album = await service.create_album(session, principal, body.title)
    return AlbumOut(id=album.id, title=album.title, images=0, created_at=album.created_at)


@router.patch("/api/v1/albums/{album_id}", response_model=AlbumOut)
async def rename_album(
    album_id: uuid.UUID, body: AlbumUpdate, session: SessionDep, principal: ImagesWrite
) -> AlbumOut:
    """Rename an album."""
    album, count = await service.rename_album(session, principal, album_id, body.title)
    return AlbumOut(id=album.id, title=album.title, images=count, created_at=album.created_at)


@router.post(
    "/api/v1/albums/{album_id}/images",
    response_model=AlbumImagesOut,
    responses=answers({404: "The album, or one of the images, is not the workspace's."}),
)
async def add_album_images(
    album_id: uuid.UUID,
    body: AlbumImagesIn,
    request: Request,
    session: SessionDep,
    principal: ImagesWrite,
) -> AlbumImagesOut:
    """Put up to 200 images in the album at once (all or none); images already in it, and
    their other albums, stay as they were."""
    album, added, count = await service.add_to_album(
        platform_of(request), session, principal, album_id, body.image_ids
    )
    return AlbumImagesOut(album=album_out(album, count), changed=added)


@router.post(
    "/api/v1/albums/{album_id}/images/remove",
    response_model=AlbumImagesOut,
    responses=answers({404: "The album is not the workspace's."}),
)
async def remove_album_images(
    album_id: uuid.UUID, body: AlbumImagesIn, session: SessionDep, principal: ImagesWrite
) -> AlbumImagesOut:
    """Take up to 200 images out of the album; they stay in the library and other albums."""
    album, removed, count = await service.remove_from_album(
        session, principal, album_id, body.image_ids
    )
    return AlbumImagesOut(album=album_out(album, count), changed=removed)


def album_out(album: Album, count: int) -> AlbumOut:
    return AlbumOut(id=album.id, title=album.title, images=count, created_at=album.created_at)


@router.delete("/api/v1/albums/{album_id}", status_code=204)
async def delete_album(
    album_id: uuid.UUID, session: SessionDep, principal: ImagesWrite
) -> Response:
    """Delete an album; its images stay, in the library and in their other albums."""
    await service.delete_album(session, principal, album_id)
    return Response(status_code=204)


@router.post("/api/v1/images/{image_id}/transform-url", response_model=TransformOut)
async def transform_link(
    image_id: uuid.UUID,
    body: TransformIn,
    request: Request,
    session: SessionDep,
    principal: ImagesRead,
) -> TransformOut:
    """A signed URL for a resized/reformatted version (expires in an hour for private images)."""
    image = await service.get_image(session, principal, image_id)
    expires = None if image.is_public else int(datetime.now(UTC).timestamp()) + 3600
    transform = validate_transform(
        body.width, body.height, body.fit, body.quality, body.format, expires
    )
    return TransformOut(
        url=transform_url(platform_of(request), image.id, transform),
        expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
    )


@router.post("/api/v1/images/known", response_model=KnownOut)
async def known_hashes(body: KnownIn, session: SessionDep, principal: ImagesRead) -> KnownOut:
    """Which of these SHA-256 hashes the active client has already uploaded (for resuming)."""
    return KnownOut(known=await service.known_hashes(session, principal, body.hashes))
