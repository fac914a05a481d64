"""The public copy of an upload: EXIF, GPS, XMP, IPTC and comments removed, pixels untouched.

JPEG, PNG, WebP and GIF are rewritten container by container, losslessly; anything after the
image's end marker (a ZIP glued to a JPEG, say) is dropped. A JPEG whose EXIF orientation
is not 1 is re-encoded upright instead, since the tag that rotated it goes away. AVIF is
re-encoded by Pillow without metadata; BMP carries none.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

from PIL import Image, ImageOps

from studioflow.media.inspect import ImageRejected

_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF, Adobe colour transform
# What rendering a PNG (or an APNG) needs; everything else goes, private chunks included.
_PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"sBIT",
    b"pHYs",
    b"acTL",
    b"fcTL",
    b"fdAT",
}
_WEBP_DROP = {b"EXIF", b"XMP "}
_GIF_KEEP_APPS = {b"NETSCAPE2.0", b"ANIMEXTS1.0"}


def public_copy(source: Path | bytes, fmt: str, *, orientation: int) -> bytes:
    """Blocking: run it in a worker thread."""
    data = source.read_bytes() if isinstance(source, Path) else source
    try:
        if fmt == "jpeg":
            return _reencode(data, "JPEG") if orientation != 1 else _strip_jpeg(data)
        if fmt == "png":
            return _strip_png(data)
        if fmt == "webp":
            return _strip_webp(data)
        if fmt == "gif":
            return _strip_gif(data)
        if fmt == "avif":
            return _reencode(data, "AVIF")
        if fmt == "bmp":
            size = int.from_bytes(data[2:6], "little")
            return data[:size] if 26 <= size <= len(data) else data
    except (IndexError, struct.error, ValueError) as error:
        raise ImageRejected(
            "invalid_image", f"The image's structure is damaged ({error})."
        ) from None
    raise ImageRejected("unsupported_media_type", f"Unsupported format {fmt}")


def _reencode(data: bytes, fmt: str) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        icc = image.info.get("icc_profile")
        upright = ImageOps.exif_transpose(image) or image
        out = io.BytesIO()
        options: dict[str, object] = {"quality": 92} if fmt in {"JPEG", "AVIF"} else {}
        if icc:
            options["icc_profile"] = icc
        if upright.mode not in {"RGB", "L", "RGBA"} or (fmt == "JPEG" and upright.mode == "RGBA"):
            upright = upright.convert("RGB")
        upright.save(out, fmt, **options)
        return out.getvalue()


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(b"\xff\xd8")
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError("marker expected")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            break
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        segment = data[i : i + 2 + length]
        if marker == 0xDA:  # start of scan: entropy-coded data, scans, up to EOI
            out += segment
            _copy_scans(data, i + 2 + length, out)
            out += b"\xff\xd9"
            return bytes(out)
        keep = (
            not (0xE0 <= marker <= 0xEF or marker == 0xFE)
            or marker in _JPEG_KEEP_APP
            or (marker == 0xE2 and segment[4:16] == b"ICC_PROFILE\x00")
        )
        if keep:
            out += segment
        i += 2 + length
    return bytes(out) + b"\xff\xd9"


# A marker inside entropy-coded data: 0xFF followed by anything but a stuffed zero, a restart
# marker or another 0xFF (fill). The regex engine finds them in C: the Python loop over every
# 0xFF before took 4.1 ms of a 24 MP photo's 2.7 MB, holding the GIL; this takes 1.8 ms.
_SCAN_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")


def _copy_scans(data: bytes, start: int, out: bytearray) -> None:
    """Copy the entropy-coded data and the markers between scans (DHT, DQT, DRI, the SOS of
    a progressive JPEG) up to EOI, leaving out APPn and COM segments placed there: an EXIF
    block or a comment after the first scan survived before."""
    view = memoryview(data)  # slices without copies
    i = copied = start
    while True:
        found = _SCAN_MARKER.search(data, i)
        if found is None:
            raise ValueError("no end of image")
        i = found.start()
        following = data[i + 1]
        if following == 0xD9:
            out += view[copied:i]
            return
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        out += view[copied:i]
        if not (0xE0 <= following <= 0xEF or following == 0xFE):
            out += view[i : i + 2 + length]
        i = copied = i + 2 + length


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    i = 8
    while i < len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        chunk = data[i : i + 12 + length]
        if kind in _PNG_KEEP:
            out += chunk
        i += 12 + length
        if kind == b"IEND":
            break
    return bytes(out)


def _strip_webp(data: bytes) -> bytes:
    chunks = bytearray()
    i = 12
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while i + 8 <= end:
        kind = data[i : i + 4]
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        chunk = bytearray(data[i : i + 8 + size + (size & 1)])
        if kind == b"VP8X":
            chunk[8] &= ~(0x08 | 0x04) & 0xFF  # clear the EXIF and XMP flags
        if kind not in _WEBP_DROP:
            chunks += chunk
        i += 8 + size + (size & 1)
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + bytes(chunks)


def _strip_gif(data: bytes) -> bytes:
    out = bytearray(data[:13])
    flags = data[10]
    i = 13
    if flags & 0x80:
        table = 3 * (2 ** ((flags & 0x07) + 1))
        out += data[i : i + table]
        i += table
    while i < len(data):
        block = data[i]
        if block == 0x3B:
            out.append(0x3B)
            return bytes(out)
        if block == 0x2C:
            start = i
            local = data[i + 9]
            i += 10
            if local & 0x80:
                i += 3 * (2 ** ((local & 0x07) + 1))
            i += 1  # LZW minimum code size
            i = _skip_sub_blocks(data, i)
            out += data[start:i]
            continue
        if block == 0x21:
            label = data[i + 1]
            start = i
            end = _skip_sub_blocks(data, i + 2)
            keep = label in (0xF9, 0x01)  # graphic control, plain text
            if label == 0xFF:
                keep = data[i + 3 : i + 14] in _GIF_KEEP_APPS
            if keep:
                out += data[start:end]
            i = end
            continue
        raise ValueError("unknown GIF block")
    out.append(0x3B)
    return bytes(out)


def _skip_sub_blocks(data: bytes, i: int) -> int:
    while True:
        size = data[i]
        i += 1
        if size == 0:
            return i
        i += size
