"""Every URL of an image, built and checked in one place.

``/i/{id}`` serves a public image to anyone; a private one needs ``?expires=&sig=`` (an
HMAC-SHA256 under a key derived for this purpose, valid until ``expires``). Size presets are
``&size=``; signed transformations carry their own signature ``s`` (see README, "Transformation
URLs"). Pages want paths on our own origin (``relative=True``); API answers and emails want
absolute URLs under ``BASE_URL``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from studioflow.media.variants import FITS, FORMATS, MAX_DIMENSION
from studioflow.platform.errors import Unprocessable
from studioflow.platform.runtime import Platform
from studioflow.platform.security import derive_key

SIGNED_TTL = timedelta(hours=1)


class Deliverable(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def is_public(self) -> bool: ...


def _base(platform: Platform, relative: bool) -> str:
    return "" if relative else platform.settings.base_url


def image_url(
    platform: Platform,
    image_id: uuid.UUID,
    *,
    size: str | None = None,
    relative: bool = False,
) -> str:
    """The public URL of an image (a preset with ``size``)."""
    url = f"{_base(platform, relative)}/i/{image_id}"
    return url + (f"?size={size}" if size else "")


def signed_url(
    platform: Platform,
    image_id: uuid.UUID,
    *,
    size: str | None = None,
    download: bool = False,
    relative: bool = False,
    ttl: timedelta = SIGNED_TTL,
) -> str:
    """A URL that serves the image whatever its visibility, until ``ttl`` has passed."""
    expires = int(time.time() + ttl.total_seconds())
    mac = signature(platform, image_id, expires)
    url = f"{_base(platform, relative)}/i/{image_id}?expires={expires}&sig={mac}"
    if size:
        url += f"&size={size}"
    if download:
        url += "&download=true"
    return url


def link(
    platform: Platform, image: Deliverable, *, size: str | None = None, relative: bool = False
) -> str:
    """What to show an image by: its public URL, or a signed one when it is private."""
    if image.is_public:
        return image_url(platform, image.id, size=size, relative=relative)
    return signed_url(platform, image.id, size=size, relative=relative)


def page_url(platform: Platform, image_id: uuid.UUID) -> str:
    """The image's page in the app (the hosting seed's ``view_url``)."""
    return f"{platform.settings.base_url}/images/{image_id}"


def signature(platform: Platform, image_id: uuid.UUID, expires: int) -> str:
    key = derive_key(platform.settings.secret, "image-url")
    return hmac.new(key, f"{image_id}:{expires}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Transform:
    width: int | None
    height: int | None
    fit: str
    quality: int
    format: str  # a format, or "auto" (negotiated from Accept)
    expires: int | None

    def canonical(self, image_id: uuid.UUID) -> str:
        fields = (self.width, self.height, self.fit, self.quality, self.format, self.expires)
        return "|".join([str(image_id), *("" if v is None else str(v) for v in fields)])

    def query(self) -> str:
        parts = {
            "w": self.width,
            "h": self.height,
            "fit": self.fit,
            "q": self.quality,
            "f": self.format,
            "exp": self.expires,
        }
        return "&".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def transform_signature(platform: Platform, image_id: uuid.UUID, transform: Transform) -> str:
    key = derive_key(platform.settings.secret, "image-transform")
    return hmac.new(key, transform.canonical(image_id).encode(), hashlib.sha256).hexdigest()[:32]


def transform_url(platform: Platform, image_id: uuid.UUID, transform: Transform) -> str:
    mac = transform_signature(platform, image_id, transform)
    return f"{platform.settings.base_url}/i/{image_id}?{transform.query()}&s={mac}"


def validate_transform(
    width: int | None,
    height: int | None,
    fit: str | None,
    quality: int | None,
    fmt: str | None,
    expires: int | None,
) -> Transform:
    for name, value in (("width", width), ("height", height)):
        if value is not None and not 1 <= value <= MAX_DIMENSION:
            raise Unprocessable(f"{name} must be between 1 and {MAX_DIMENSION}.")
    if width is None and height is None:
        raise Unprocessable("Give a width, a height or both.")
    if fit is not None and fit not in FITS:
        raise Unprocessable(f"fit must be one of: {', '.join(FITS)}.")
    if quality is not None and not 1 <= quality <= 100:
        raise Unprocessable("quality must be between 1 and 100.")
    if fmt is not None and fmt not in (*FORMATS, "auto"):
        raise Unprocessable(f"format must be one of: {', '.join((*FORMATS, 'auto'))}.")
    return Transform(width, height, fit or "inside", quality or 82, fmt or "auto", expires)


def signature_ok(
    platform: Platform, image_id: uuid.UUID, expires: int | None, sig: str | None
) -> bool:
    if expires is None or sig is None or expires < time.time():
        return False
    return hmac.compare_digest(signature(platform, image_id, expires), sig)
