"""Signed transformation URLs: width, height, fit, quality and format (auto by Accept)."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
import pyvips
from PIL import Image as PILImage

from studioflow.app import create_app, served
from studioflow.media.variants import (
    MAX_CONCURRENT_RENDERS,
    ProcessingBusy,
    RenderQueue,
    VariantSpec,
    render,
)
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
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


@pytest.mark.parametrize("orientation", [1, 6])
def test_large_preset_of_a_wide_jpeg_has_the_exact_size(orientation: int) -> None:
    # 1800x1200, drawn 3:2; shown 1200x1800 when rotated by EXIF.
    data = images.encode("JPEG", size=(1800, 1200), gps=True, orientation=orientation)
    spec = VariantSpec(512, 512, "inside", 85, "jpeg")
    with PILImage.open(io.BytesIO(render(data, "jpeg", spec))) as image:
        assert image.size == ((512, 341) if orientation == 1 else (341, 512))


def test_animated_presets_keep_their_animation() -> None:
    data = images.animated_gif(6, size=(120, 80))
    spec = VariantSpec.preset("thumb", "gif")
    assert spec.format == "gif"
    with PILImage.open(
        io.BytesIO(render(data, "gif", VariantSpec(60, 60, "inside", 85, "gif")))
    ) as image:
        assert image.format == "GIF" and image.n_frames == 6 and image.size == (60, 40)
    # A transformation to a still format takes the first frame.
    still = render(data, "gif", VariantSpec(60, 60, "inside", 85, "png"))
    with PILImage.open(io.BytesIO(still)) as image:
        assert image.format == "PNG" and getattr(image, "n_frames", 1) == 1


def test_bitmaps_render_as_png() -> None:
    source = io.BytesIO()
    images.picture((90, 60)).save(source, "BMP")
    spec = VariantSpec.preset("thumb", "bmp")
    with PILImage.open(io.BytesIO(render(source.getvalue(), "bmp", spec))) as image:
        assert image.format == "PNG" and image.size == (90, 60)  # never enlarged


def test_a_corrupt_source_is_a_clear_refusal() -> None:
    with pytest.raises(pyvips.Error):
        render(b"\xff\xd8\xff\xe0 not really a jpeg", "jpeg", VariantSpec.preset("thumb", "jpeg"))


async def test_renders_past_the_running_ones_wait_and_only_past_the_bound_are_refused() -> None:
    queue = RenderQueue(running=1, waiting=1)
    release = asyncio.Event()
    order: list[str] = []

    async def render_one(name: str) -> None:
        async with queue.slot():
            order.append(name)
            await release.wait()

    first = asyncio.create_task(render_one("first"))
    second = asyncio.create_task(render_one("second"))  # waits its turn
    await asyncio.sleep(0.01)
    assert order == ["first"]
    with pytest.raises(ProcessingBusy):
        async with queue.slot():
            pass
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]
    async with queue.slot():  # room again
        pass


async def test_a_burst_of_first_views_is_served(
    committed: tuple[Settings, Platform],
) -> None:
    """More first views at once than renders may run: they queue, none is refused (on a
    database of its own: the renders record their variants in concurrent transactions)."""
    settings, platform = committed
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        owner = await create_account(client, platform, "burst@example.com")
        ids = [
            await put(client, owner, images.encode("JPEG", size=(300 + n, 200)))
            for n in range(MAX_CONCURRENT_RENDERS * 2 + 1)
        ]
        answers = await asyncio.gather(*(client.get(f"/i/{i}?size=thumb") for i in ids))
    assert [a.status_code for a in answers] == [200] * len(ids)
