"""Image delivery (the view role): ``GET|HEAD /i/{image_id}``.

The public copy (metadata stripped) unless the owner opted in to the original's metadata;
``?size=thumb|small|medium|large`` presets; ``?download=true``; single ``Range`` requests;
ETag/304; long caching on versioned URLs (``?v=``). Private images need a signed, expiring
URL (``?expires=&sig=``, HMAC-SHA256). Bytes sent count towards the plan's monthly bandwidth.

No request-long database session is held here: a delivery reads its row and lets go, so a
slow client never keeps a transaction (or SQLite's write lock) open while it downloads.
"""

from __future__ import annotations

import hmac
import time
import uuid
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from studioflow.billing.plans import plan_of
from studioflow.identity.auth import platform_of
from studioflow.media import analytics, service, urls
from studioflow.media.auth import ImagesRead
from studioflow.media.delivery_cache import SMALL_OBJECT, DeliveryCache
from studioflow.media.delivery_rules import (
    cache_headers,
    count_delivery,
    month_key,
    not_modified,
    referrer_allowed,
)
from studioflow.media.inspect import ImageRejected
from studioflow.media.repository import ImageRepository
from studioflow.media.schemas import InfoOut, StatsOut
from studioflow.media.sniff import MIME
from studioflow.media.urls import Transform, signature_ok, transform_signature, validate_transform
from studioflow.media.variants import (
    PRESETS,
    ProcessingBusy,
    VariantSpec,
    get_variant,
    natural_format,
)
from studioflow.models import Client, Image, Plan
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import (
    Forbidden,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Unprocessable,
    answers,
)
from studioflow.platform.runtime import Platform

router = APIRouter(tags=["delivery"])

_NOT_FOUND = "No such image."


def negotiate(accept: str, source_format: str) -> str:
    if "image/avif" in accept:
        return "avif"
    if "image/webp" in accept:
        return "webp"
    return natural_format(source_format)


def cache_of(request: Request) -> DeliveryCache:
    cache: DeliveryCache = request.app.state.delivery_cache
    return cache


async def _load(platform: Platform, image_id: uuid.UUID) -> tuple[Image, Client, Plan]:
    async with platform.db.read() as session:
        found = await ImageRepository(session).for_delivery(image_id)
        if found is None:
            raise NotFound(_NOT_FOUND)
        image, client = found
        plan = await plan_of(session, client.id)
    if image.expires_at is not None and image.expires_at <= datetime.now(UTC):
        raise NotFound(_NOT_FOUND)
    return image, client, plan


def _check_referrer(platform: Platform, request: Request, allowed: list[str]) -> None:
    own = urlsplit(platform.settings.base_url).hostname
    if not referrer_allowed(request.headers.get("referer"), allowed, own):
        raise Forbidden("This image may not be shown on that site.", code="hotlink_blocked")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range as [start, end); None when unsatisfiable or not one range."""
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                return None
            return max(0, size - length), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return None
    return start, min(end, size)


@router.head(
    "/i/{image_id}",
    operation_id="head_image_file",
    responses=answers(
        {
            403: (
                "The signature is missing, wrong or expired (`invalid_signature`), or "
                "the referrer is not allowed (`hotlink_blocked`)."
            ),
            429: (
                "The plan's monthly bandwidth is used up (`quota_exceeded`), or too many "
                "new sizes are being rendered at once (`rate_limited`); see `Retry-After`."
            ),
        }
    ),
)
@router.get(
    "/i/{image_id}",
    operation_id="get_image_file",
    responses=answers(
        {
            403: (
                "The signature is missing, wrong or expired (`invalid_signature`), or "
                "the referrer is not allowed (`hotlink_blocked`)."
            ),
            429: (
                "The plan's monthly bandwidth is used up (`quota_exceeded`), or too many "
                "new sizes are being rendered at once (`rate_limited`); see `Retry-After`."
            ),
        }
    ),
)
async def deliver(
    image_id: uuid.UUID,
    request: Request,
    size: Annotated[str | None, Query(max_length=10)] = None,
    download: bool = False,
    v: Annotated[str | None, Query(max_length=64)] = None,
    expires: int | None = None,
    sig: Annotated[str | None, Query(max_length=128)] = None,
    w: int | None = None,
    h: int | None = None,
    fit: Annotated[str | None, Query(max_length=10)] = None,
    q: int | None = None,
    f: Annotated[str | None, Query(max_length=10)] = None,
    exp: int | None = None,
    s: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """An image (public, or private with a signed URL); presets and signed transformations."""
    platform = platform_of(request)
    cache = cache_of(request)
    found = await cache.deliverable(platform, image_id)
    if found is None or found.expired():
        raise NotFound(_NOT_FOUND)
    image = found.image
    transform: Transform | None = None
    if any(p is not None for p in (w, h, fit, q, f)):
        transform = validate_transform(w, h, fit, q, f, exp)
        expected = transform_signature(platform, image.id, transform)
        if s is None or not hmac.compare_digest(expected, s):
            raise Forbidden(
                "This transformation URL is not signed, or was changed.", code="invalid_signature"
            )
        if exp is not None and exp < time.time():
            raise Forbidden("This transformation URL has expired.", code="invalid_signature")
    signed = signature_ok(platform, image.id, expires, sig) or (
        transform is not None and exp is not None
    )
    if not image.is_public and not signed:
        raise NotFound(_NOT_FOUND)
    _check_referrer(platform, request, list(found.allowed_referrers))
    if size is not None and size not in PRESETS:
        raise Unprocessable(f"size must be one of: {', '.join(PRESETS)}.")

    if await platform.tally.total(month_key(image)) >= found.bandwidth_bytes_month:
        raise QuotaExceeded(
            "This image's owner has used the plan's monthly bandwidth.",
            extra={"quota": "bandwidth_bytes_month"},
        )

    spec: VariantSpec | None = None
    if transform is not None:
        fmt = transform.format
        if fmt == "auto":
            fmt = negotiate(request.headers.get("accept", ""), image.format)
        spec = VariantSpec(transform.width, transform.height, transform.fit, transform.quality, fmt)
    elif size is not None:
        spec = VariantSpec.preset(size, image.format)
    if spec is not None:
        try:
            variant = await cache.variant(platform, found, spec.key)
            if variant is None:
                variant = await get_variant(platform, image, spec)
                cache.remember_variant(found, variant)
        except ProcessingBusy:
            raise RateLimited(
                "Busy making image sizes; retry in a moment.", retry_after=2
            ) from None
        except ImageRejected as error:
            raise Unprocessable(error.detail, code=error.code) from None
        key, total, mime, tag = variant.storage_key, variant.bytes, MIME[variant.format], spec.key
    elif image.keep_metadata:
        key, total, mime, tag = image.original_key, image.bytes, image.mime_type, "o"
    else:
        key, total, mime, tag = image.public_key, image.public_bytes, image.mime_type, "p"

    headers = cache_headers(image.content_hash, image.is_public, tag, versioned=bool(v))
    etag = headers["ETag"]
    if transform is not None and transform.format == "auto":
        headers["Vary"] = "Accept"
    if download:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(image.filename)}"
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)

    start, end, status = 0, total, 200
    range_header = request.headers.get("range")
    if range_header:
        wanted = _parse_range(range_header, total)
        if wanted is None:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"}
            )
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=mime)
    count_delivery(platform, request, image, tag, end - start)
    if total <= SMALL_OBJECT:
        # One piece: a thumbnail is one read (usually from memory) and one send.
        whole = await cache.body(platform, key)
        return Response(whole[start:end], status_code=status, headers=headers, media_type=mime)
    settings = platform.settings
    if settings.delivery_accel_prefix and platform.storage.kind == "local":
        # nginx sends the file (and answers the Range itself, from the same request); it
        # keeps our ETag and security headers (deploy/nginx.conf, location /_stored/).
        for computed in ("Content-Length", "Content-Range"):
            headers.pop(computed, None)
        headers["X-Accel-Redirect"] = settings.delivery_accel_prefix + quote(key)
        return Response(status_code=200, headers=headers, media_type=mime)
    # A download keeps streaming: the presigned URL would lose our Content-Disposition.
    if settings.delivery_s3_redirect_seconds and platform.storage.kind == "s3" and not download:
        url = await platform.storage.signed_url(
            key, expires_in=timedelta(seconds=settings.delivery_s3_redirect_seconds)
        )
        # The redirect itself is not cached: every view comes back here to be counted.
        return Response(
            status_code=307,
            headers={"Location": url, "Cache-Control": "no-store", "ETag": headers["ETag"]},
        )
    body = platform.storage.stream(
        key, start=start if status == 206 else None, end=end if status == 206 else None
    )
    return StreamingResponse(body, status_code=status, headers=headers, media_type=mime)


@router.get("/info/{image_id}", response_model=InfoOut)
async def info(
    image_id: uuid.UUID,
    request: Request,
    expires: int | None = None,
    sig: Annotated[str | None, Query(max_length=128)] = None,
) -> InfoOut:
    """Public facts about an image (the hosting seed's shape)."""
    platform = platform_of(request)
    image, _, _ = await _load(platform, image_id)
    if not image.is_public and not signature_ok(platform, image.id, expires, sig):
        raise NotFound(_NOT_FOUND)
    return InfoOut(
        id=image.id,
        filename=image.filename,
        size=image.public_bytes,
        dimensions={"width": image.width, "height": image.height},
        mime_type=image.mime_type,
        views=image.views,
        uploaded_at=image.created_at,
    )


@router.get(
    "/embed/{image_id}",
    response_model=None,
    responses=answers(
        {403: "The page framing it is not among the client's allowed sites (`hotlink_blocked`)."}
    ),
)
async def embed(image_id: uuid.UUID, request: Request, format: str = "html") -> Response:
    """An embeddable page for a public image, or its oEmbed JSON (``?format=json``)."""
    platform = platform_of(request)
    image, client, _ = await _load(platform, image_id)
    if not image.is_public:
        raise NotFound(_NOT_FOUND)
    # The image inside the frame is requested with our own page as its Referer, so the
    # client's allowed sites are checked here, on the page that frames it (its Referer and
    # frame-ancestors), or any site could show the image by framing the embed.
    _check_referrer(platform, request, list(client.settings.get("allowed_referrers", [])))
    base = platform.settings.base_url
    title = image.title or image.filename
    if format == "json":
        return JSONResponse(
            {
                "version": "1.0",
                "type": "photo",
                "provider_name": "Studioflow",
                "provider_url": base,
                "title": title,
                "url": urls.image_url(platform, image.id),
                "width": image.width,
                "height": image.height,
                "thumbnail_url": urls.image_url(platform, image.id, size="thumb"),
                "html": f'<iframe src="{base}/embed/{image.id}" width="{image.width}" '
                f'height="{image.height}" style="border:0;max-width:100%" '
                f'title="{escape(title)}"></iframe>',
            },
            media_type="application/json+oembed",
        )
    if format != "html":
        raise Unprocessable("format must be html or json.")
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel=alternate type="application/json+oembed" '
        f'href="{base}/embed/{image.id}?format=json">'
        "<style>html,body{margin:0;background:transparent}"
        "img{display:block;max-width:100%;height:auto}</style>"
        f'</head><body><a href="{urls.image_url(platform, image.id)}" target=_blank '
        "rel=noopener>"
        f'<img src="{urls.image_url(platform, image.id, size="large")}" alt="{escape(title)}" '
        f'width="{image.width}" '
        f'height="{image.height}" style="background:{image.dominant_color}"></a></body></html>'
    )
    # Embeds exist to be framed by other sites (the client's allowed ones when it names
    # some); nothing in them runs script.
    csp = (
        "default-src 'none'; img-src *; style-src 'unsafe-inline'; "
        f"frame-ancestors {frame_ancestors(list(client.settings.get('allowed_referrers', [])))}"
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": csp})


def frame_ancestors(allowed: list[str]) -> str:
    """The CSP source list for who may frame an embed: anyone, or the allowed domains."""
    if not allowed:
        return "*"
    sources = ["'self'"]
    for domain in allowed:
        bare = domain.removeprefix("*.")
        sources += [bare, f"*.{bare}"]  # host sources: the embed's own scheme
    return " ".join(sources)


@router.get("/stats/{image_id}", response_model=StatsOut)
async def stats(
    image_id: uuid.UUID, session: SessionDep, principal: ImagesRead, days: int = 30
) -> StatsOut:
    """Views of your image: totals, per day, referrers, devices, browsers, countries."""
    if not 1 <= days <= 365:
        raise Unprocessable("days must be between 1 and 365.")
    image = await service.get_image(session, principal, image_id)
    return StatsOut(**await analytics.image_stats(session, image, days=days))
