"""Derived images (size presets and signed transformations), computed once and cached in the
storage next to the image, where they count towards the client's storage."""

from __future__ import annotations

import asyncio
import io
import math
from collections import defaultdict
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageOps
from sqlalchemy.exc import IntegrityError

from studioflow.media.inspect import ImageRejected
from studioflow.media.repository import ImageRepository
from studioflow.media.sniff import EXTENSION
from studioflow.models import Image, ImageVariant
from studioflow.platform.loops import PerLoop
from studioflow.platform.runtime import Platform

PRESETS = {"thumb": 320, "small": 640, "medium": 1280, "large": 2048}
FITS = ("cover", "contain", "inside")
FORMATS = ("jpeg", "png", "webp", "avif")
MAX_DIMENSION = 4096
_locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
# Bounded processing: a full pool answers 429 instead of queueing unbounded memory.
MAX_CONCURRENT_RENDERS = 4
_renders = PerLoop(lambda: asyncio.Semaphore(MAX_CONCURRENT_RENDERS))
_PIL = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}


class ProcessingBusy(Exception):
    pass


def natural_format(source: str) -> str:
    # Animated GIFs become a still of the first frame; PNG keeps it (and BMP) lossless.
    return {
        "jpeg": "jpeg",
        "png": "png",
        "webp": "webp",
        "avif": "avif",
        "gif": "png",
        "bmp": "png",
    }[source]


@dataclass(frozen=True)
class VariantSpec:
    width: int | None
    height: int | None
    fit: str
    quality: int
    format: str

    @property
    def key(self) -> str:
        return f"{self.width or 0}x{self.height or 0}-{self.fit}-q{self.quality}.{self.format}"

    @classmethod
    def preset(cls, name: str, source_format: str) -> VariantSpec:
        side = PRESETS[name]
        return cls(side, side, "inside", 85, natural_format(source_format))


def _decode_box(
    size: tuple[int, int], box: tuple[int, int], spec: VariantSpec, orientation: int | None
) -> tuple[int, int]:
    """The smallest decoded size (in the file's own orientation) the resize can start from.

    Asking JPEG's reduced decoding for the whole box is too cautious for a photo that is not
    the box's shape: a 6000x4000 image fitted inside 2048x2048 needs 2048x1366, which a half
    scale decode (3000x2000) covers, while a 2048x2048 request forces the full decode (2.5x
    the time, bench/README.md).
    """
    width, height = size
    box_width, box_height = box
    if orientation in (5, 6, 7, 8):  # shown turned by 90°: the box applies the other way
        box_width, box_height = box_height, box_width
    fit = max if spec.fit == "cover" and spec.width and spec.height else min
    scale = min(1.0, fit(box_width / width, box_height / height))
    return (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))


def render(data: bytes, source_format: str, spec: VariantSpec) -> bytes:
    """Blocking. Never upscales; no metadata is written to the result."""
    with PILImage.open(io.BytesIO(data)) as image:
        image.seek(0)
        box = (spec.width or MAX_DIMENSION, spec.height or MAX_DIMENSION)
        orientation = image.getexif().get(0x0112, 1)
        if source_format == "jpeg":
            # Decode at a reduced scale (much cheaper for big photos), never below the size
            # the resize needs.
            image.draft("RGB", _decode_box(image.size, box, spec, orientation))
        # Only a rotated image pays for a transposed copy; the others resize in place.
        rotated = orientation not in (None, 1)
        frame = (ImageOps.exif_transpose(image) or image) if rotated else image
        if spec.fit == "cover" and spec.width and spec.height:
            target = (min(spec.width, frame.width), min(spec.height, frame.height))
            frame = ImageOps.fit(frame, target, PILImage.Resampling.LANCZOS)
        else:
            frame.thumbnail(box, PILImage.Resampling.LANCZOS)
            if spec.fit == "contain" and spec.width and spec.height:
                canvas = PILImage.new("RGBA", (spec.width, spec.height), (0, 0, 0, 0))
                canvas.paste(
                    frame, ((spec.width - frame.width) // 2, (spec.height - frame.height) // 2)
                )
                frame = canvas
        if spec.format == "jpeg" and frame.mode not in {"RGB", "L"}:
            background = PILImage.new("RGB", frame.size, (255, 255, 255))
            rgba = frame.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            frame = background
        elif frame.mode not in {"RGB", "RGBA", "L", "LA"}:
            frame = frame.convert("RGBA")
        out = io.BytesIO()
        options: dict[str, object] = (
            {"quality": spec.quality}
            if spec.format in {"jpeg", "webp", "avif"}
            else {"optimize": True}
        )
        frame.save(out, _PIL[spec.format], **options)
        return out.getvalue()


async def get_variant(platform: Platform, image: Image, spec: VariantSpec) -> ImageVariant:
    """The cached variant, or render it (once, even when many ask at the same moment)."""
    found = await _cached(platform, image, spec)
    if found is not None:
        return found
    async with _locks[(str(image.id), spec.key)]:
        found = await _cached(platform, image, spec)
        if found is not None:
            return found
        renders = _renders.get()
        if renders.locked():
            raise ProcessingBusy
        async with renders:
            source = await platform.storage.read(image.public_key)
            try:
                data = await asyncio.to_thread(render, source, image.format, spec)
            except (OSError, ValueError) as error:
                raise ImageRejected("invalid_image", str(error)) from None
        key = (
            image.public_key.rsplit("/", 1)[0]
            + f"/variants/{spec.key.rsplit('.', 1)[0]}.{EXTENSION[spec.format]}"
        )
        await platform.storage.put(key, data)
        variant = ImageVariant(
            image_id=image.id, spec=spec.key, format=spec.format, bytes=len(data), storage_key=key
        )
        try:
            async with platform.db.transaction() as session:
                session.add(variant)
        except IntegrityError:
            # Another process rendered it meanwhile; theirs is as good as ours.
            other = await _cached(platform, image, spec)
            if other is None:
                raise
            return other
        return variant


async def _cached(platform: Platform, image: Image, spec: VariantSpec) -> ImageVariant | None:
    async with platform.db.read() as session:
        return await ImageRepository(session).cached_variant(image.id, spec.key)
