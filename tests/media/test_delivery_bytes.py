"""Where the bytes of a large delivery come from: Python, nginx (X-Accel-Redirect) or S3."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from studioflow.models import Image
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.media import images
from tests.sql_seen import statements


async def large_image(client: httpx.AsyncClient, platform: Platform) -> tuple[str, int]:
    owner = await create_account(client, platform, "bytes@example.com")
    data = images.noise_png((400, 300))  # past what is answered from memory
    uploaded = await client.post(
        "/upload", files={"file": ("b.png", data, "image/png")}, headers=owner.headers
    )
    assert uploaded.status_code == 201, uploaded.text
    return str(uploaded.json()["image"]["id"]), len(data)


async def test_large_files_stream_with_ranges_by_default(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    image_id, size = await large_image(client, platform)
    whole = await client.get(f"/i/{image_id}")
    assert whole.status_code == 200 and len(whole.content) == size
    assert "x-accel-redirect" not in whole.headers
    part = await client.get(f"/i/{image_id}", headers={"Range": "bytes=-50"})
    assert part.status_code == 206 and part.content == whole.content[-50:]


async def test_behind_nginx_the_app_hands_local_files_over(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    if platform.storage.kind != "local":
        pytest.skip("X-Accel-Redirect is for local storage")
    platform.settings.delivery_accel_prefix = "/_stored/"
    image_id, _ = await large_image(client, platform)
    handed = await client.get(f"/i/{image_id}", headers={"Range": "bytes=0-9"})
    # nginx answers the range from the same request: the app says 200 and sends nothing.
    assert handed.status_code == 200 and handed.content == b""
    assert handed.headers["x-accel-redirect"].startswith("/_stored/clients/")
    assert "content-range" not in handed.headers and handed.headers["etag"]
    # Again, now from the delivery cache (media/hot_path.py): the same answer, counted alike.
    info = (await client.get(f"/info/{image_id}")).json()  # size: the public copy's bytes
    owner_client = (await platform_image(platform, image_id)).client_id
    month = f"bandwidth:{owner_client}:{datetime.now(UTC):%Y%m}"
    await platform.tally.flush()
    before = await platform.counters.get(month)
    with statements(platform) as seen:
        again = await client.get(f"/i/{image_id}")
    assert seen == []  # answered from the delivery cache
    assert again.status_code == 200 and again.content == b""

    def comparable(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in {"x-request-id", "date"}}

    assert comparable(again) == comparable(handed)
    cached = await client.get(f"/i/{image_id}", headers={"If-None-Match": handed.headers["etag"]})
    assert cached.status_code == 304 and "x-accel-redirect" not in cached.headers
    await platform.tally.flush()
    assert await platform.counters.get(month) == before + info["size"]


async def platform_image(platform: Platform, image_id: str) -> Image:
    async with platform.db.read() as session:
        image = await session.get(Image, uuid.UUID(image_id))
    assert image is not None
    return image


async def test_on_s3_large_files_can_redirect_to_a_short_presigned_url(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    if platform.storage.kind != "s3":
        pytest.skip("presigned redirects are S3's")
    platform.settings.delivery_s3_redirect_seconds = 60
    image_id, size = await large_image(client, platform)
    redirected = await client.get(f"/i/{image_id}")
    assert redirected.status_code == 307
    assert redirected.headers["cache-control"] == "no-store"
    location = redirected.headers["location"]
    assert "X-Amz-Expires=60" in location
    fetched = httpx.get(location)
    assert fetched.status_code == 200 and len(fetched.content) == size
    # A download streams: a presigned URL would lose the attachment's filename.
    download = await client.get(f"/i/{image_id}?download=true")
    assert download.status_code == 200 and len(download.content) == size
    assert download.headers["content-disposition"].startswith("attachment;")
