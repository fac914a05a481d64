"""Check an uploaded image and read what we record about it.

The pixel count is read from the header and checked before anything is decoded, so a small
file declaring a huge image (a decompression bomb) costs nothing. Then the first frame is
decoded once to prove the file is whole, and the metadata is read from a small copy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blurhash
from PIL import Image, ImageOps, UnidentifiedImageError

from studioflow.media.sniff import MIME

MAX_FRAMES = 100
_PIL_FORMAT = {
    "JPEG": "jpeg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "AVIF": "avif",
    "BMP": "bmp",
}


class ImageRejected(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ImageFacts:
    format: str
    mime_type: str
    width: int  # after EXIF orientation
    height: int
    frames: int
    has_alpha: bool
    orientation: int
    dominant_color: str
    blurhash: str | None


def inspect_image(
    path: Path | BinaryIO, sniffed: str, *, max_pixels: int, max_frames: int = MAX_FRAMES
) -> ImageFacts:
    """Blocking: run it in a worker thread. ``path``: a file, or the bytes in a stream."""
    with warnings.catch_warnings():
        # Pillow warns before its own bomb error; we check first and answer ourselves.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                declared = _PIL_FORMAT.get(image.format or "")
                if declared != sniffed:
                    raise ImageRejected(
                        "invalid_image", "The file's contents do not match its image type."
                    )
                width, height = image.size
                if width < 1 or height < 1:
                    raise ImageRejected("invalid_image", "The image has no pixels.")
                frames = int(getattr(image, "n_frames", 1) or 1)
                if frames > max_frames:
                    raise ImageRejected(
                        "image_too_large", f"The image has {frames} frames; at most {max_frames}."
                    )
                pixels = width * height * frames
                if pixels > max_pixels:
                    raise ImageRejected(
                        "image_too_large",
                        f"The image has {pixels:,} pixels; at most {max_pixels:,}.",
                    )
                image.seek(0)
                if sniffed == "jpeg":
                    # Decode at 1/8 scale: every byte of the compressed data is still read
                    # and checked (a truncated or corrupt file fails the same way), but the
                    # frame is 64x smaller. A full 24 MP frame is ~96 MB, and Pillow holds the
                    # GIL while it allocates it: ~100 ms in which the event loop could not run
                    # (bench/README.md, "Load").
                    image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
                image.load()  # decode once: truncated or corrupt files fail here
                orientation = int(image.getexif().get(0x0112, 1) or 1)
                has_alpha = (
                    image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info
                )
                small = image.copy()
                small.thumbnail((64, 64))
                small = ImageOps.exif_transpose(small) or small
                rgb = small.convert("RGB")
        except ImageRejected:
            raise
        except Image.DecompressionBombError:
            raise ImageRejected(
                "image_too_large", "The image declares more pixels than allowed."
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise ImageRejected("invalid_image", "The image is truncated or corrupt.") from None
    if orientation in {5, 6, 7, 8}:
        width, height = height, width
    return ImageFacts(
        format=sniffed,
        mime_type=MIME[sniffed],
        width=width,
        height=height,
        frames=frames,
        has_alpha=has_alpha,
        orientation=orientation,
        dominant_color=_dominant(rgb),
        blurhash=_blurhash(rgb),
    )


def _dominant(image: Image.Image) -> str:
    palette = image.quantize(colors=5)
    counts = sorted(palette.getcolors() or [], reverse=True)
    colours = palette.getpalette() or [0, 0, 0]
    index = int(counts[0][1]) if counts else 0  # type: ignore[call-overload]
    r, g, b = colours[index * 3 : index * 3 + 3]
    return f"#{r:02x}{g:02x}{b:02x}"


def _blurhash(image: Image.Image) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # blurhash uses getdata()
            return str(blurhash.encode(image, x_components=4, y_components=3))
    except Exception:  # a placeholder is a nicety; never fail an upload for it
        return None
