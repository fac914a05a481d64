"""Derived images (size presets and signed transformations), computed once and cached in the
storage next to the image, where they count towards the client's storage.

Rendered with libvips (pyvips, its library bundled by pyvips-binary): `thumbnail` shrinks
JPEG and WebP while decoding and reads the source once, front to back, so a 24 MP photo
never sits whole in memory (bench/README.md: Pillow took 1.4-3.2x its time and memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pyvips
from PIL import Image as PILImage
from sqlalchemy.exc import IntegrityError

from studioflow.media.inspect import ImageRejected
from studioflow.media.repository import ImageRepository
from studioflow.media.sniff import EXTENSION
from studioflow.models import Image, ImageVariant
from studioflow.platform.loops import PerLoop
from studioflow.platform.runtime import Platform

# A render is done once per image and size and stored: libvips' cache of operations would
# only hold on to memory.
pyvips.cache_set_max(0)

PRESETS = {"thumb": 320, "small": 640, "medium": 1280, "large": 2048}
FITS = ("cover", "contain", "inside")
FORMATS = ("jpeg", "png", "webp", "avif")
MAX_DIMENSION = 4096
_locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
# Renders run a few at a time per process (their memory is bounded); the others wait their
# turn, up to a bound: a burst of first views is served as renders finish, and only a queue
# past its bound answers 429.
MAX_CONCURRENT_RENDERS = 4
MAX_WAITING_RENDERS = 64
_SAVE = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif", "gif": ".gif"}
_ANIMATED = frozenset({"gif", "webp"})


class ProcessingBusy(Exception):
    pass


class RenderQueue:
    def __init__(self, running: int, waiting: int) -> None:
        self._slots = asyncio.Semaphore(running)
        self._bound = running + waiting
        self._inside = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._inside >= self._bound:
            raise ProcessingBusy
        self._inside += 1
        try:
            async with self._slots:
                yield
        finally:
            self._inside -= 1


_renders = PerLoop(lambda: RenderQueue(MAX_CONCURRENT_RENDERS, MAX_WAITING_RENDERS))


def natural_format(source: str) -> str:
    # GIF and WebP keep their animation; BMP becomes PNG (lossless, and browsers' choice).
    return {
        "jpeg": "jpeg",
        "png": "png",
        "webp": "webp",
        "avif": "avif",
        "gif": "gif",
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


def _shown_size(image: pyvips.Image, animated: bool) -> tuple[int, int]:
    """Width and height as shown: one frame of an animation, EXIF orientation applied."""
    width = image.width
    height = (
        image.get("page-height") if animated and image.get_typeof("page-height") else image.height
    )
    if image.get_typeof("orientation") and image.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    return width, height


def render(data: bytes, source_format: str, spec: VariantSpec) -> bytes:
    """Blocking. Never upscales; EXIF orientation applied; no metadata in the result."""
    if source_format == "bmp":  # libvips has no BMP loader: hand it a lossless copy
        with PILImage.open(io.BytesIO(data)) as bitmap:
            copy = io.BytesIO()
            bitmap.save(copy, "PNG", compress_level=1)
            data, source_format = copy.getvalue(), "png"
    animated = source_format in _ANIMATED and spec.format in _ANIMATED
    load = "n=-1" if animated else ""  # every frame, or only the first
    box_width, box_height = spec.width or MAX_DIMENSION, spec.height or MAX_DIMENSION
    if spec.fit == "cover" and spec.width and spec.height:
        # Fill the box, cropping the middle, but never beyond the source's own size.
        probe = pyvips.Image.new_from_buffer(data, load, access="sequential")
        width, height = _shown_size(probe, animated)
        image = pyvips.Image.thumbnail_buffer(
            data,
            min(box_width, width),
            height=min(box_height, height),
            crop="centre",
            size="down",
            option_string=load,
        )
    else:
        image = pyvips.Image.thumbnail_buffer(
            data, box_width, height=box_height, size="down", option_string=load
        )
        if spec.fit == "contain" and spec.width and spec.height and not animated:
            # Padded to the box with transparency (white once flattened for JPEG).
            if not image.hasalpha():
                image = image.bandjoin(255)
            image = image.gravity(
                "centre",
                spec.width,
                spec.height,
                extend="background",
                background=[0] * image.bands,
            )
    if spec.format == "jpeg" and image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    options: dict[str, object] = {"keep": "none"}
    if spec.format in {"jpeg", "webp", "avif"}:
        options["Q"] = spec.quality
    data_out: bytes = image.write_to_buffer(_SAVE[spec.format], **options)
    return data_out


async def get_variant(platform: Platform, image: Image, spec: VariantSpec) -> ImageVariant:
    """The cached variant, or render it (once, even when many ask at the same moment)."""
    found = await _cached(platform, image, spec)
    if found is not None:
        return found
    async with _locks[(str(image.id), spec.key)]:
        found = await _cached(platform, image, spec)
        if found is not None:
            return found
        async with _renders.get().slot():
            source = await platform.storage.read(image.public_key)
            try:
                data = await asyncio.to_thread(render, source, image.format, spec)
            except (OSError, ValueError, pyvips.Error) as error:
                raise ImageRejected("invalid_image", str(error).strip()[:300]) from None
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
