"""Image types by content, never by name: the first bytes decide."""

from __future__ import annotations

MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "bmp": "image/bmp",
}
EXTENSION = {
    "jpeg": "jpg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "avif": "avif",
    "bmp": "bmp",
}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """The format of an upload from its first 64 bytes, or None if it is not one we take."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        box = head[8 : min(size, len(head))]
        brands = {box[:4]} | {box[i : i + 4] for i in range(8, len(box) - 3, 4)}
        if brands & _AVIF_BRANDS:
            return "avif"
    return None
