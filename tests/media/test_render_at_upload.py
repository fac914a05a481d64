"""The page sizes of a new image are rendered by a job right after the upload: a page of
fresh thumbnails is served from stored variants, none of them waits in the render queue."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from studioflow.media.tasks import PRESETS_AT_UPLOAD
from studioflow.models import ImageVariant
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.factories import admin_client
from tests.media import images


async def variants_stored(platform: Platform) -> int:
    async with platform.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(ImageVariant)) or 0)


async def test_twelve_uploads_get_their_thumbnails_before_anyone_asks(
    committed: tuple[Settings, Platform],
) -> None:
    settings, platform = committed
    assert settings.media_render_at_upload  # on by default
    await platform.start_worker(concurrency=2, dequeue_timeout=0.05)
    try:
        async with admin_client(settings, platform, "renders@example.com") as (client, headers):
            files = [
                ("file", (f"{n}.png", images.noise_png((400 + n, 300)), "image/png"))
                for n in range(12)
            ]
            uploaded = await client.post("/api/v1/images", files=files, headers=headers)
            assert uploaded.status_code == 201, uploaded.text
            expected = 12 * len(PRESETS_AT_UPLOAD)
            for _ in range(400):
                if await variants_stored(platform) >= expected:
                    break
                await asyncio.sleep(0.05)
            assert await variants_stored(platform) == expected
            # The gallery's tiles are then answered from the stored variants: a thumbnail
            # request renders nothing more.
            listed = await client.get("/api/v1/images?limit=50", headers=headers)
            for image in listed.json()["items"]:
                thumb = await client.get(f"/i/{image['id']}?size=thumb")
                assert thumb.status_code == 200, thumb.text
            assert await variants_stored(platform) == expected
    finally:
        await platform.stop_worker()


async def test_an_animated_gif_stays_animated_in_the_gallery_and_the_viewer(
    committed: tuple[Settings, Platform],
) -> None:
    """The sizes pages show (thumb, small: rendered at upload; large: the viewer's, on first
    request) of an animated GIF keep every frame and the timing."""
    import io

    from PIL import Image as PILImage

    settings, platform = committed
    await platform.start_worker(concurrency=2, dequeue_timeout=0.05)
    try:
        async with admin_client(settings, platform, "gifs@example.com") as (client, headers):
            data = images.animated_gif(6, size=(240, 160))
            uploaded = await client.post(
                "/upload", files={"file": ("loop.gif", data, "image/gif")}, headers=headers
            )
            assert uploaded.status_code == 201, uploaded.text
            image_id = uploaded.json()["image"]["id"]
            for _ in range(400):
                if await variants_stored(platform) >= len(PRESETS_AT_UPLOAD):
                    break
                await asyncio.sleep(0.05)
            for size in ("thumb", "small", "large"):
                answer = await client.get(f"/i/{image_id}?size={size}")
                assert answer.status_code == 200, answer.text
                with PILImage.open(io.BytesIO(answer.content)) as shown:
                    assert getattr(shown, "n_frames", 1) == 6, (size, shown.format)
                    assert shown.info.get("loop") == 0 and shown.info.get("duration")
    finally:
        await platform.stop_worker()
