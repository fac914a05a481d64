"""Image files made on the spot for tests: ordinary, hostile and metadata-laden."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = orientation
    gps = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[GPS_IFD] = gps
    return exif


def picture(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, size)
    for x in range(size[0]):
        for y in range(size[1]):
            value = (x * 4 % 256, y * 5 % 256, (x + y) % 256)
            image.putpixel((x, y), value if mode == "RGB" else (*value, 200))
    return image


def encode(
    fmt: str,
    *,
    size: tuple[int, int] = (64, 48),
    gps: bool = False,
    orientation: int = 1,
    **options: object,
) -> bytes:
    image = picture(
        size, "RGBA" if fmt in {"PNG", "WEBP"} and options.pop("alpha", False) else "RGB"
    )
    out = io.BytesIO()
    if gps:
        options["exif"] = exif_with_gps(orientation).tobytes()
    if fmt == "PNG" and options.pop("text", False):
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", "secret location: home")
        options["pnginfo"] = info
    image.save(out, fmt, **options)
    return out.getvalue()


def animated_gif(
    frames: int, size: tuple[int, int] = (8, 8), comment: bytes | None = None
) -> bytes:
    images = [
        Image.new("RGB", size, color=(i * 7 % 256, i * 13 % 256, i % 256)) for i in range(frames)
    ]
    out = io.BytesIO()
    extra = {"comment": comment} if comment else {}
    images[0].save(
        out, "GIF", save_all=True, append_images=images[1:], duration=20, loop=0, **extra
    )
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def zip_payload() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "not an image")
    return out.getvalue()


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as image:
        return image.getexif()


def noise_png(size: tuple[int, int]) -> bytes:
    """Incompressible pixels: the file is about as large as the image."""
    import os

    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
