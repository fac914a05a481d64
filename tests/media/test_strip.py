"""Public copies: metadata gone, pixels the same, junk after the image dropped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from studioflow.media.inspect import ImageRejected, inspect_image
from studioflow.media.sniff import sniff
from studioflow.media.strip import public_copy
from tests.media import images


def write(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def same_pixels(a: bytes, b: bytes) -> bool:
    with Image.open(io.BytesIO(a)) as x, Image.open(io.BytesIO(b)) as y:
        return ImageChops.difference(x.convert("RGBA"), y.convert("RGBA")).getbbox() is None


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_gps_and_exif_are_removed_losslessly(tmp_path: Path, fmt: str, name: str) -> None:
    options = {"quality": 90} if fmt != "PNG" else {}
    data = images.encode(fmt, gps=True, **options)
    assert images.GPS_IFD in images.exif_of(data), "the fixture must carry GPS"
    stripped = public_copy(write(tmp_path, data), name, orientation=1)
    assert len(images.exif_of(stripped)) == 0
    assert b"TestCam" not in stripped
    assert same_pixels(data, stripped)


def test_png_text_chunks_are_removed(tmp_path: Path) -> None:
    data = images.encode("PNG", text=True)
    assert b"secret location" in data
    stripped = public_copy(write(tmp_path, data), "png", orientation=1)
    assert b"secret location" not in stripped and same_pixels(data, stripped)


def test_gif_comments_are_removed_and_animation_kept(tmp_path: Path) -> None:
    data = images.animated_gif(5, comment=b"shot at 48.85N 2.29E")
    stripped = public_copy(write(tmp_path, data), "gif", orientation=1)
    assert b"48.85N" not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.n_frames == 5 and image.info.get("loop") == 0


def test_rotated_jpeg_is_delivered_upright(tmp_path: Path) -> None:
    data = images.encode("JPEG", size=(80, 40), gps=True, orientation=6)
    facts = inspect_image(write(tmp_path, data), "jpeg", max_pixels=10**7)
    assert (facts.width, facts.height, facts.orientation) == (40, 80, 6)
    stripped = public_copy(write(tmp_path, data), "jpeg", orientation=6)
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.size == (40, 80)
    assert len(images.exif_of(stripped)) == 0


def test_a_zip_glued_to_a_jpeg_is_not_delivered(tmp_path: Path) -> None:
    data = images.encode("JPEG") + images.zip_payload()
    assert sniff(data[:64]) == "jpeg"
    inspect_image(write(tmp_path, data), "jpeg", max_pixels=10**7)
    stripped = public_copy(write(tmp_path, data), "jpeg", orientation=1)
    assert b"PK\x03\x04" not in stripped and stripped.endswith(b"\xff\xd9")


def test_facts(tmp_path: Path) -> None:
    facts = inspect_image(
        write(tmp_path, images.encode("PNG", alpha=True)), "png", max_pixels=10**7
    )
    assert (facts.width, facts.height, facts.frames, facts.has_alpha) == (64, 48, 1, True)
    assert facts.dominant_color.startswith("#") and len(facts.dominant_color) == 7
    assert facts.blurhash and len(facts.blurhash) > 6


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (images.png_declaring(20000, 20000), "image_too_large"),
        (images.animated_gif(150), "image_too_large"),
        (images.encode("JPEG", size=(200, 200))[:600], "invalid_image"),
        (images.encode("PNG")[:-30], "invalid_image"),
    ],
)
def test_hostile_images_are_refused(tmp_path: Path, data: bytes, code: str) -> None:
    fmt = sniff(data[:64])
    assert fmt is not None
    with pytest.raises(ImageRejected) as caught:
        inspect_image(write(tmp_path, data), fmt, max_pixels=50_000_000)
    assert caught.value.code == code


def test_sniffing_by_content(tmp_path: Path) -> None:
    assert sniff(images.encode("BMP")[:64]) == "bmp"
    assert sniff(images.encode("GIF")[:64]) == "gif"
    assert sniff(images.encode("AVIF")[:64]) == "avif"
    assert sniff(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>") is None
    assert sniff(b"just text, named photo.jpg") is None
    assert sniff(b"") is None


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


@pytest.mark.parametrize("progressive", [False, True])
def test_metadata_after_the_image_data_is_removed(tmp_path: Path, progressive: bool) -> None:
    """An EXIF block or a comment placed after the first scan used to survive (issue 12, 13)."""
    out = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(
        out, "JPEG", quality=90, progressive=progressive
    )
    clean = out.getvalue()
    assert clean.endswith(b"\xff\xd9")
    hidden = _segment(0xE1, b"Exif\x00\x00GPS 48.8584N 2.2945E") + _segment(0xFE, b"home addr")
    data = clean[:-2] + hidden + b"\xff\xd9"
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # still a valid JPEG, so uploads take it
    stripped = public_copy(write(tmp_path, data), "jpeg", orientation=1)
    assert b"48.8584N" not in stripped and b"home addr" not in stripped
    assert same_pixels(clean, stripped)


def test_png_keeps_only_what_rendering_needs(tmp_path: Path) -> None:
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload).to_bytes(4, "big")
        return len(payload).to_bytes(4, "big") + kind + payload + crc

    clean = images.encode("PNG")
    end = clean.rindex(b"IEND") - 4
    data = clean[:end] + chunk(b"prVt", b"device serial 1234") + chunk(b"vpAg", b"x") + clean[end:]
    stripped = public_copy(write(tmp_path, data), "png", orientation=1)
    assert b"device serial" not in stripped and b"vpAg" not in stripped
    assert same_pixels(clean, stripped)
