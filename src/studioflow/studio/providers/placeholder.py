"""The offline default provider: a deterministic image made from the prompt.

Same prompt and aspect ratio, same bytes: tests and demos need no network and no key. The
image says plainly that it is a placeholder.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from studioflow.studio.fonts import unicode_font

ASPECT_RATIOS = {
    "1:1": (1024, 1024),
    "3:2": (1152, 768),
    "2:3": (768, 1152),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
    "16:9": (1280, 720),
    "9:16": (720, 1280),
    "21:9": (1344, 576),
}


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = unicode_font()
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)  # Pillow's own font: ASCII only


def drawable(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """``text`` with the characters ``font`` has no glyph for replaced (an em dash by a
    hyphen, others by "?"), so no label is drawn as boxes whatever font is found."""
    missing = bytes(font.getmask("\U0010ffff"))

    def shown(ch: str) -> str:
        if ch.isspace() or ch.isascii() or bytes(font.getmask(ch)) != missing:
            return ch
        return "-" if ch in "\u2013\u2014" else "?"

    return "".join(shown(ch) for ch in text)


def generate(prompt: str, aspect_ratio: str = "1:1") -> bytes:
    if aspect_ratio not in ASPECT_RATIOS:
        raise ValueError(f"unsupported aspect ratio {aspect_ratio!r}")
    width, height = ASPECT_RATIOS[aspect_ratio]
    digest = hashlib.sha256(f"{aspect_ratio}\n{prompt}".encode()).digest()
    top = tuple(digest[0:3])
    bottom = tuple(digest[3:6])
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(height - 1, 1)
        colour = tuple(int(top[i] * (1 - t) + bottom[i] * t) for i in range(3))
        draw.line([(0, y), (width, y)], fill=colour)
    for n in range(6):  # a few shapes from the hash so different prompts look different
        x, y, r = (
            digest[6 + n] * width // 256,
            digest[12 + n] * height // 256,
            40 + digest[18 + n] % 120,
        )
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=4)
    label = "PLACEHOLDER — no AI provider configured"
    draw.rectangle([0, 0, width, 56], fill=(0, 0, 0))
    font = _font(24)
    draw.text((24, 14), drawable(label, font), fill=(255, 255, 255), font=font)
    body = "\n".join(textwrap.wrap(prompt, width=60)[:7])
    draw.rectangle([0, height - 220, width, height], fill=(0, 0, 0))
    draw.multiline_text(
        (24, height - 204), drawable(body, font), fill=(255, 255, 255), spacing=6, font=font
    )
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()
