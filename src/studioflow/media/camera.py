"""What the camera wrote in the private original: make, model, lens, exposure, when it was
taken. For the owner's viewer only (the public copy has none of it); never the location."""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

from PIL import Image, UnidentifiedImageError

_EXIF_IFD = 0x8769
_FIELDS = {
    0x010F: "make",
    0x0110: "model",
    0xA434: "lens",
    0x829A: "exposure",
    0x829D: "aperture",
    0x8827: "iso",
    0x920A: "focal_length",
    0x9003: "taken_at",
}


def _text(tag: int, value: Any) -> str | None:
    if value is None:
        return None
    if tag == 0x829A:  # exposure time in seconds: 1/250 s
        seconds = Fraction(float(value)).limit_denominator(8000)
        if seconds < 1:
            return f"{seconds.numerator}/{seconds.denominator} s"
        return f"{float(seconds):g} s"
    if tag == 0x829D:
        return f"f/{float(value):.1f}"
    if tag == 0x920A:
        return f"{float(value):g} mm"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip().strip("\x00")
    return text[:100] or None


def camera_facts(original: bytes) -> dict[str, str]:
    """The camera fields present in ``original`` (blocking: run it in a thread)."""
    try:
        with Image.open(io.BytesIO(original)) as image:
            exif = image.getexif()
            merged: dict[int, Any] = dict(exif)
            merged.update(exif.get_ifd(_EXIF_IFD))
    except (UnidentifiedImageError, OSError, ValueError):
        return {}
    facts: dict[str, str] = {}
    for tag, name in _FIELDS.items():
        try:
            text = _text(tag, merged.get(tag))
        except (TypeError, ValueError, ZeroDivisionError):
            text = None
        if text:
            facts[name] = text
    return facts
