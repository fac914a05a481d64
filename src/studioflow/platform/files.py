"""Signed downloads from the local storage folder (S3 hands out its own presigned URLs)."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from studioflow.platform.errors import NotFound
from studioflow.platform.storage import Storage, StorageKeyError

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
