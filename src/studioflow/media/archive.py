"""A ZIP of chosen images, streamed: one original read from storage at a time and written
out through zipstream-ng, so a large selection never sits in memory whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from zipstream import ZipStream

from studioflow.models import Image
from studioflow.platform.runtime import Platform

MAX_IMAGES = 200


def entry_names(images: list[Image]) -> list[str]:
    """File names in the archive: each image's own, made unique (``a.png``, ``a (2).png``)."""
    seen: dict[str, int] = {}
    names = []
    for image in images:
        name = image.filename or f"{image.id}.{image.format}"
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        if count > 1:
            name = f"{stem} ({count}).{ext}" if ext else f"{stem} ({count})"
            seen[name.lower()] = 1
        names.append(name)
    return names


async def zip_of(platform: Platform, images: list[Image]) -> AsyncIterator[bytes]:
    """The originals, byte for byte, under their file names."""
    archive = ZipStream(sized=False)
    for image, name in zip(images, entry_names(images), strict=True):
        data = await platform.storage.read(image.original_key)
        archive.add(data, name)
        for chunk in archive.all_files():
            yield chunk
        del data
    for chunk in archive.footer():
        yield chunk
