"""The offline default provider: a deterministic image made from the prompt.

Same prompt and aspect ratio, same bytes: tests and demos need no network and no key. The
image says plainly that it is a placeholder.
"""

from __future__ import annotations

import hashlib
import io
import textwrap

from PIL import Image, ImageDraw

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
    draw.text((24, 18), label, fill=(255, 255, 255))
    body = "\n".join(textwrap.wrap(prompt, width=60)[:8])
    draw.rectangle([0, height - 200, width, height], fill=(0, 0, 0))
    draw.multiline_text((24, height - 184), body, fill=(255, 255, 255), spacing=6)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()
