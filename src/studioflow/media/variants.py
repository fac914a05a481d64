"""Size presets of an image, computed once and cached in the storage (counted in the quota)."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict

from PIL import Image as PILImage
from PIL import ImageOps
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from studioflow.media.inspect import ImageRejected
from studioflow.media.sniff import EXTENSION
from studioflow.models import Image, ImageVariant
from studioflow.platform.runtime import Platform

PRESETS = {"thumb": 320, "small": 640, "medium": 1280, "large": 2048}
_locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
# Bounded processing: a full pool answers 429 instead of queueing unbounded memory.
MAX_CONCURRENT_RENDERS = 4
_renders = asyncio.Semaphore(MAX_CONCURRENT_RENDERS)


class ProcessingBusy(Exception):
    pass


def _output_format(source: str) -> str:
    # Animated GIFs become a still of the first frame for presets; PNG keeps it lossless.
    return {
        "jpeg": "jpeg",
        "png": "png",
        "webp": "webp",
        "avif": "avif",
        "gif": "png",
        "bmp": "png",
    }[source]


def render_preset(data: bytes, source_format: str, longest: int) -> tuple[bytes, str]:
    """Blocking: the image scaled so its longest side is at most ``longest`` (never up)."""
    fmt = _output_format(source_format)
    with PILImage.open(io.BytesIO(data)) as image:
        image.seek(0)
        if source_format == "jpeg":
            image.draft("RGB", (longest, longest))  # decode at a reduced scale: much cheaper
        frame = ImageOps.exif_transpose(image) or image
        frame = frame.copy()
        frame.thumbnail((longest, longest), PILImage.Resampling.LANCZOS)
        if fmt == "jpeg" and frame.mode not in {"RGB", "L"}:
            frame = frame.convert("RGB")
        if fmt == "png" and frame.mode not in {"RGB", "RGBA", "L", "LA", "P"}:
            frame = frame.convert("RGBA")
        out = io.BytesIO()
        options: dict[str, object] = (
            {"quality": 85} if fmt in {"jpeg", "webp", "avif"} else {"optimize": True}
        )
        frame.save(
            out, {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}[fmt], **options
        )
        return out.getvalue(), fmt


async def preset_variant(platform: Platform, image: Image, size: str) -> ImageVariant:
    """The cached variant, or render it (once, even when many ask at the same moment)."""
    async with platform.db.sessionmaker() as session:
        found = await session.scalar(
            select(ImageVariant).where(ImageVariant.image_id == image.id, ImageVariant.spec == size)
        )
    if found is not None:
        return found
    async with _locks[(str(image.id), size)]:
        async with platform.db.sessionmaker() as session:
            found = await session.scalar(
                select(ImageVariant).where(
                    ImageVariant.image_id == image.id, ImageVariant.spec == size
                )
            )
        if found is not None:
            return found
        if _renders.locked():
            raise ProcessingBusy
        async with _renders:
            source = await platform.storage.read(image.public_key)
            try:
                data, fmt = await asyncio.to_thread(
                    render_preset, source, image.format, PRESETS[size]
                )
            except (OSError, ValueError) as error:
                raise ImageRejected("invalid_image", str(error)) from None
        key = image.public_key.rsplit("/", 1)[0] + f"/variants/{size}.{EXTENSION[fmt]}"
        await platform.storage.put(key, data)
        variant = ImageVariant(
            image_id=image.id, spec=size, format=fmt, bytes=len(data), storage_key=key
        )
        try:
            async with platform.db.transaction() as session:
                session.add(variant)
        except IntegrityError:
            # Another process rendered it meanwhile; theirs is as good as ours.
            async with platform.db.sessionmaker() as session:
                other = await session.scalar(
                    select(ImageVariant).where(
                        ImageVariant.image_id == image.id, ImageVariant.spec == size
                    )
                )
            if other is None:
                raise
            return other
        return variant
