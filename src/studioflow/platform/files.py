"""Signed downloads from, and direct uploads into, the local storage folder (S3 hands out
its own presigned URLs for both)."""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from studioflow.platform.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from studioflow.platform.storage import UPLOAD_PREFIX, Storage, StorageKeyError

router = APIRouter(tags=["storage"], include_in_schema=False)

_INVALID = "This link is invalid or has expired."


@router.get("/files/{key:path}")
async def signed_file(
    request: Request,
    key: str,
    expires: int = Query(...),
    signature: str = Query(..., max_length=128),
) -> StreamingResponse:
    """Stream a stored object if the URL's signature is valid and unexpired."""
    storage: Storage = request.app.state.platform.storage
    # One answer for bad, expired and missing: a prober learns nothing about which keys exist.
    if storage.kind != "local" or not storage.verify_local_signature(key, expires, signature):
        raise NotFound(_INVALID)
    try:
        info = await storage.head(key)
    except StorageKeyError:
        raise NotFound(_INVALID) from None
    if info is None:
        raise NotFound(_INVALID)
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    headers = {
        "Content-Length": str(info.size),
        "Cache-Control": "private, max-age=300",
        # Stored bytes are user content: only images render inline, and never run script.
        "Content-Disposition": "inline" if media_type.startswith("image/") else "attachment",
        "Content-Security-Policy": (
            "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"
        ),
    }
    return StreamingResponse(storage.stream(key), media_type=media_type, headers=headers)


upload_router = APIRouter(tags=["storage"], include_in_schema=False)


@upload_router.put("/uploads/{path:path}")
async def signed_upload(
    request: Request,
    path: str,
    expires: int = Query(...),
    signature: str = Query(..., max_length=128),
) -> JSONResponse:
    """The local store's stand-in for an S3 presigned PUT (``Storage.upload_target``): the
    signature covers the key, Content-Type, Content-Length and expiry, so exactly the
    declared bytes are taken, streamed into the store; a longer body is cut off and nothing
    is kept (the store's write is atomic)."""
    storage: Storage = request.app.state.platform.storage
    key = UPLOAD_PREFIX + path
    content_type = request.headers.get("content-type", "")
    try:
        length = int(request.headers.get("content-length", ""))
    except ValueError:
        length = -1
    if (
        storage.kind != "local"
        or length < 0
        or not storage.verify_upload_signature(key, content_type, length, expires, signature)
    ):
        # S3 answers a signature that does not match the request alike: 403.
        raise Forbidden("This upload URL is invalid, has expired, or does not match the request.")

    async def body() -> AsyncIterator[bytes]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > length:
                raise PayloadTooLarge("The body is longer than the upload declared.")
            yield chunk
        if received != length:
            raise BadRequest("The body is shorter than the upload declared.")

    try:
        info = await storage.put(key, body(), content_type=content_type)
    except StorageKeyError:
        raise Forbidden("This upload URL is invalid.") from None
    return JSONResponse({"size": info.size}, headers={"ETag": info.etag or ""})
