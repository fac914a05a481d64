"""Signed transformation URLs: width, height, fit, quality and format (auto by Accept)."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image as PILImage

from studioflow.media.variants import VariantSpec, _decode_box, render
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "transform@example.com")


async def put(client: httpx.AsyncClient, owner: Account, data: bytes, **form: str) -> str:
    response = await client.post(
        "/upload", files={"file": ("t.jpg", data, "image/jpeg")}, data=form, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["image"]["id"])


async def link(client: httpx.AsyncClient, owner: Account, image_id: str, **body: object) -> str:
    response = await client.post(
        f"/api/v1/images/{image_id}/transform-url", json=body, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["url"]).removeprefix("http://testserver")


def size_of(data: bytes) -> tuple[int, int]:
    with PILImage.open(io.BytesIO(data)) as image:
        return image.size


async def test_signed_transformations(client: httpx.AsyncClient, owner: Account) -> None:
    image_id = await put(client, owner, images.encode("JPEG", size=(800, 400), gps=True))
    cover = await client.get(
        await link(client, owner, image_id, width=200, height=200, fit="cover", format="png")
    )
    assert cover.status_code == 200 and cover.headers["content-type"] == "image/png"
    assert size_of(cover.content) == (200, 200)
    inside = await client.get(
        await link(client, owner, image_id, width=200, height=200, fit="inside", format="jpeg")
    )
    assert size_of(inside.content) == (200, 100) and len(images.exif_of(inside.content)) == 0
    contain = await client.get(
        await link(client, owner, image_id, width=300, height=300, fit="contain", format="webp")
    )
    assert size_of(contain.content) == (300, 300)
    upscale = await client.get(await link(client, owner, image_id, width=4000, format="jpeg"))
    assert size_of(upscale.content) == (800, 400)  # never enlarged


async def test_auto_format_negotiates_by_accept(client: httpx.AsyncClient, owner: Account) -> None:
    image_id = await put(client, owner, images.encode("JPEG", size=(300, 200)))
    url = await link(client, owner, image_id, width=100)
    avif = await client.get(url, headers={"Accept": "image/avif,image/webp,*/*"})
    webp = await client.get(url, headers={"Accept": "image/webp,*/*"})
    plain = await client.get(url, headers={"Accept": "*/*"})
    assert [r.headers["content-type"] for r in (avif, webp, plain)] == [
        "image/avif",
        "image/webp",
        "image/jpeg",
    ]
    assert avif.headers["vary"] == "Accept"


async def test_unsigned_and_tampered_urls_are_refused(
    client: httpx.AsyncClient, owner: Account
) -> None:
    image_id = await put(client, owner, images.encode("JPEG", size=(300, 200)))
    url = await link(client, owner, image_id, width=100, format="jpeg")
    assert (await client.get(url)).status_code == 200
    unsigned = url.split("&s=")[0]
    assert (await client.get(unsigned)).json()["code"] == "invalid_signature"
    bigger = url.replace("w=100", "w=2000")
    refused = await client.get(bigger)
    assert refused.status_code == 403 and refused.json()["code"] == "invalid_signature"
    bad = await client.post(
        f"/api/v1/images/{image_id}/transform-url", json={"width": 0}, headers=owner.headers
    )
    assert bad.status_code == 422
    assert (
        await client.post(
            f"/api/v1/images/{image_id}/transform-url",
            json={"fit": "stretch", "width": 5},
            headers=owner.headers,
        )
    ).status_code == 422


async def test_private_images_get_expiring_transform_urls(
    client: httpx.AsyncClient, owner: Account
) -> None:
    image_id = await put(client, owner, images.encode("JPEG", size=(300, 200)), is_public="false")
    url = await link(client, owner, image_id, width=50, format="jpeg")
    assert "exp=" in url
    assert (await client.get(url)).status_code == 200
    expired = url.replace("exp=", "exp=1")  # changing exp breaks the signature too
    assert (await client.get(expired)).status_code == 403


def test_render_keeps_alpha_or_flattens_for_jpeg() -> None:
    data = images.encode("PNG", alpha=True, size=(40, 40))
    png = render(data, "png", VariantSpec(20, 20, "inside", 80, "png"))
    with PILImage.open(io.BytesIO(png)) as image:
        assert image.mode in {"RGBA", "LA"}
    jpeg = render(data, "png", VariantSpec(20, 20, "inside", 80, "jpeg"))
    with PILImage.open(io.BytesIO(jpeg)) as image:
        assert image.mode == "RGB"


@pytest.mark.parametrize(
    ("size", "spec", "orientation", "decoded"),
    [
        # A 3:2 photo inside a square box: half scale covers 2048x1366 (a square request
        # would have forced the full decode).
        ((6000, 4000), VariantSpec(2048, 2048, "inside", 85, "jpeg"), 1, (2048, 1366)),
        # Shown turned by 90°: a 200x400 (w x h) box is 400x200 in the file's orientation.
        ((800, 400), VariantSpec(200, 400, "inside", 85, "jpeg"), 6, (400, 200)),
        # cover fills the box: the larger scale wins.
        ((4000, 2000), VariantSpec(500, 500, "cover", 85, "jpeg"), 1, (1000, 500)),
        # Never more than the source.
        ((300, 200), VariantSpec(2048, 2048, "inside", 85, "jpeg"), 1, (300, 200)),
    ],
)
def test_reduced_decoding_asks_for_what_the_resize_needs(
    size: tuple[int, int], spec: VariantSpec, orientation: int, decoded: tuple[int, int]
) -> None:
    box = (spec.width or 0, spec.height or 0)
    assert _decode_box(size, box, spec, orientation) == decoded


@pytest.mark.parametrize("orientation", [1, 6])
def test_large_preset_of_a_wide_jpeg_has_the_exact_size(orientation: int) -> None:
    # 1800x1200, drawn 3:2; shown 1200x1800 when rotated by EXIF.
    data = images.encode("JPEG", size=(1800, 1200), gps=True, orientation=orientation)
    spec = VariantSpec(512, 512, "inside", 85, "jpeg")
    with PILImage.open(io.BytesIO(render(data, "jpeg", spec))) as image:
        assert image.size == ((512, 341) if orientation == 1 else (341, 512))
