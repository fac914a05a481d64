"""Upload, records and delivery through the API, on both backends."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select, update

from studioflow.models import Image, ImageVariant, Plan
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "photos@example.com")


async def upload(
    client: httpx.AsyncClient, account: Account, data: bytes, name: str = "photo.jpg", **form: str
) -> httpx.Response:
    return await client.post(
        "/upload",
        files={"file": (name, data, "application/octet-stream")},
        data=form,
        headers=account.headers,
    )


async def stored_keys(platform: Platform) -> list[str]:
    return [info.key async for info in platform.storage.list("clients/")]


def exif(data: bytes) -> PILImage.Exif:
    return images.exif_of(data)


async def test_upload_and_deliver(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    data = images.encode("JPEG", size=(800, 600), gps=True, quality=90)
    response = await upload(client, owner, data, "holiday.jpg", title="Holiday")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True and body["duplicate"] is False
    image = body["image"]
    assert image["metadata"] == {"width": 800, "height": 600, "size": len(data), "format": "jpeg"}
    assert image["filename"] == "holiday.jpg"
    assert image["url"].endswith(f"/i/{image['id']}") and image["thumbnail"].endswith("?size=thumb")
    path = f"/i/{image['id']}"

    delivered = await client.get(path)
    assert delivered.status_code == 200 and delivered.headers["content-type"] == "image/jpeg"
    assert len(exif(delivered.content)) == 0, "EXIF/GPS must not be delivered"
    assert delivered.headers["cache-control"] == "public, max-age=86400"
    etag = delivered.headers["etag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    versioned = await client.get(f"{path}?v=1")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"

    ranged = await client.get(path, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.content == delivered.content[:100]
    assert ranged.headers["content-range"] == f"bytes 0-99/{len(delivered.content)}"
    tail = await client.get(path, headers={"Range": "bytes=-10"})
    assert tail.content == delivered.content[-10:]
    bad = await client.get(path, headers={"Range": f"bytes={len(delivered.content) + 5}-"})
    assert bad.status_code == 416

    head = await client.head(path)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(delivered.content))
    download = await client.get(f"{path}?download=true")
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''holiday.jpg"

    thumb = await client.get(f"{path}?size=thumb")
    assert thumb.status_code == 200
    with PILImage.open(io.BytesIO(thumb.content)) as small:
        assert max(small.size) == 320
    assert len(exif(thumb.content)) == 0
    again = await client.get(f"{path}?size=thumb")
    assert again.content == thumb.content
    async with platform.db.sessionmaker() as session:
        variants = await session.scalar(select(func.count()).select_from(ImageVariant))
    assert variants == 1
    assert (await client.get(f"{path}?size=huge")).status_code == 422


async def test_api_key_upload_and_records(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    key = (
        await client.post(
            "/api/v1/api-keys",
            json={"key_name": "cli", "scopes": ["images:read", "images:write"]},
            headers=owner.headers,
        )
    ).json()["api_key"]
    files = [
        ("file", (f"{n}.png", images.encode("PNG", size=(10 + n, 10)), "image/png"))
        for n in range(3)
    ]
    response = await client.post("/api/v1/images", files=files, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    created = response.json()
    assert [i["width"] for i in created] == [10, 11, 12]
    listed = (await client.get("/api/v1/images?limit=2", headers={"X-API-Key": key})).json()
    assert [i["width"] for i in listed["items"]] == [12, 11] and listed["next_cursor"]
    first = created[0]["id"]
    patched = await client.patch(
        f"/api/v1/images/{first}", json={"title": "Tiny", "is_public": False}, headers=owner.headers
    )
    assert patched.status_code == 200 and patched.json()["title"] == "Tiny"
    assert patched.json()["signed_url"]
    assert (await client.get(f"/i/{first}")).status_code == 404
    signed = patched.json()["signed_url"].removeprefix("http://testserver")
    assert (await client.get(signed)).status_code == 200
    assert (await client.get(signed.replace("sig=", "sig=0"))).status_code == 404
    expired = signed.split("?")[0] + "?expires=1&sig=" + signed.split("sig=")[1]
    assert (await client.get(expired)).status_code == 404
    assert (
        await client.patch(f"/api/v1/images/{first}", json={"bytes": 1}, headers=owner.headers)
    ).status_code == 422
    # A flag has no "unset" state: null is refused as invalid, not stored (it was a 409).
    for flag in ("is_public", "keep_metadata"):
        nulled = await client.patch(
            f"/api/v1/images/{first}", json={flag: None}, headers=owner.headers
        )
        assert nulled.status_code == 422 and nulled.json()["code"] == "validation_error"
    private = (await client.get("/api/v1/images?public=false", headers=owner.headers)).json()[
        "items"
    ]
    assert [i["id"] for i in private] == [first]


async def test_owner_may_opt_in_to_metadata(client: httpx.AsyncClient, owner: Account) -> None:
    data = images.encode("JPEG", gps=True)
    image_id = (await upload(client, owner, data)).json()["image"]["id"]
    await client.patch(
        f"/api/v1/images/{image_id}", json={"keep_metadata": True}, headers=owner.headers
    )
    delivered = await client.get(f"/i/{image_id}")
    assert delivered.content == data and images.GPS_IFD in exif(delivered.content)


async def test_duplicates_are_stored_once(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    data = images.encode("PNG")
    first = (await upload(client, owner, data, "a.png")).json()
    second = (await upload(client, owner, data, "b.png")).json()
    assert second["duplicate"] is True and second["image"]["id"] == first["image"]["id"]
    assert len(await stored_keys(platform)) == 2  # original + public copy, once


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 422, "invalid_image"),
        (images.encode("JPEG", size=(300, 300))[:700], 422, "invalid_image"),
        (images.png_declaring(20000, 20000), 422, "image_too_large"),
        (images.animated_gif(3000, size=(2, 2)), 422, "image_too_large"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            415,
            "unsupported_media_type",
        ),
        (b"this is plain text pretending to be a photo", 415, "unsupported_media_type"),
    ],
)
async def test_bad_files_are_refused_and_leave_nothing(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Account,
    data: bytes,
    status: int,
    code: str,
) -> None:
    response = await upload(client, owner, data, "photo.jpg")
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await stored_keys(platform) == []
    assert list((platform.settings.data_dir / "tmp").glob("upload-*")) == []


async def test_polyglot_is_delivered_without_its_payload(
    client: httpx.AsyncClient, owner: Account
) -> None:
    data = images.encode("JPEG") + images.zip_payload()
    image_id = (await upload(client, owner, data)).json()["image"]["id"]
    delivered = (await client.get(f"/i/{image_id}")).content
    assert b"PK\x03\x04" not in delivered


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\win.png", "win.png"),
        ("a" * 400 + ".png", "a" * 196 + ".png"),
        ("ünïcødé 写真.png", "ünïcødé 写真.png"),
        ("\x1b[31mred\u202e.png", "[31mred.png"),
        (".", "image.png"),
    ],
)
async def test_hostile_filenames(
    client: httpx.AsyncClient, owner: Account, name: str, expected: str
) -> None:
    data = images.encode("PNG", size=(5 + len(name) % 7, 5))
    response = await upload(client, owner, data, name)
    assert response.status_code == 201, response.text
    assert response.json()["image"]["filename"] == expected


async def test_too_many_files_in_one_request(client: httpx.AsyncClient, owner: Account) -> None:
    files = [
        ("file", (f"{n}.png", images.encode("PNG", size=(4, 4)), "image/png")) for n in range(25)
    ]
    response = await client.post("/api/v1/images", files=files, headers=owner.headers)
    assert response.status_code == 422 and response.json()["code"] == "too_many_files"


async def test_plan_limits(client: httpx.AsyncClient, platform: Platform, owner: Account) -> None:
    async with platform.db.transaction() as session:
        await session.execute(
            update(Plan).where(Plan.name == "free").values(max_upload_bytes=2000, uploads_per_day=2)
        )
    big = images.noise_png((200, 200))
    assert len(big) > 2000
    too_big = await upload(client, owner, big)
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"
    for n in range(2):
        assert (
            await upload(client, owner, images.encode("PNG", size=(3 + n, 3)))
        ).status_code == 201
    third = await upload(client, owner, images.encode("PNG", size=(9, 3)))
    assert third.status_code == 429 and third.json()["code"] == "quota_exceeded"
    assert third.json()["quota"] == "uploads_per_day" and int(third.headers["retry-after"]) > 0
    assert len(await stored_keys(platform)) == 4  # the refused upload left nothing
    quota = (await client.get("/upload/quota", headers=owner.headers)).json()
    assert (
        quota["plan"] == "free"
        and quota["uploads_today"] == 2
        and quota["upload_limit_per_day"] == 2
    )
    assert quota["storage_used"] > 0 and quota["storage_limit"] == 1024**3


async def test_storage_quota(client: httpx.AsyncClient, platform: Platform, owner: Account) -> None:
    async with platform.db.transaction() as session:
        await session.execute(update(Plan).where(Plan.name == "free").values(storage_bytes=500))
    response = await upload(client, owner, images.noise_png((40, 40)))
    assert response.status_code == 413 and response.json()["code"] == "quota_exceeded"
    assert response.json()["quota"] == "storage_bytes"


async def test_delete_removes_every_copy(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    image_id = (await upload(client, owner, images.encode("JPEG", size=(500, 400)))).json()[
        "image"
    ]["id"]
    await client.get(f"/i/{image_id}?size=small")
    assert len(await stored_keys(platform)) == 3
    assert (
        await client.delete(f"/api/v1/images/{image_id}", headers=owner.headers)
    ).status_code == 204
    assert await stored_keys(platform) == []
    assert (await client.get(f"/i/{image_id}")).status_code == 404


async def test_other_clients_images_are_404(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    image_id = (await upload(client, owner, images.encode("PNG"))).json()["image"]["id"]
    other = await create_account(client, platform, "snoop@example.com")
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"/api/v1/images/{image_id}",
            json={} if method == "PATCH" else None,
            headers=other.headers,
        )
        assert response.status_code == 404, method
    assert (await client.get(f"/i/{uuid.uuid4()}")).status_code == 404
    async with platform.db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Image)) == 1


async def test_api_requests_per_hour_per_client(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    async with platform.db.transaction() as session:
        await session.execute(
            update(Plan).where(Plan.name == "free").values(api_requests_per_hour=3)
        )
    from datetime import UTC, datetime

    await platform.counters.reset(
        f"api:{owner.client_id}:{datetime.now(UTC):%Y%m%d%H}"
    )  # sign-up's calls
    statuses = [
        (await client.get("/api/v1/images", headers=owner.headers)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    refused = await client.get("/upload/quota", headers=owner.headers)
    assert (
        refused.json()["quota"] == "api_requests_per_hour"
        and int(refused.headers["retry-after"]) > 0
    )
    async with platform.db.transaction() as session:
        await session.execute(
            update(Plan).where(Plan.name == "free").values(api_requests_per_hour=100)
        )
    quota = (await client.get("/upload/quota", headers=owner.headers)).json()
    assert (
        quota["api_requests_this_hour"] == 4 and quota["api_request_limit"] == 100
    )  # refusals do not count


async def test_a_bad_file_in_a_batch_leaves_nothing_of_the_good_ones(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    files = [
        ("file", ("a.png", images.noise_png((10, 10)), "image/png")),
        ("file", ("b.png", images.noise_png((11, 10)), "image/png")),
        ("file", ("c.jpg", b"not an image at all", "image/jpeg")),
    ]
    response = await client.post("/api/v1/images", files=files, headers=owner.headers)
    assert response.status_code == 415
    assert await stored_keys(platform) == []
    async with platform.db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Image)) == 0


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-12-01T10:00:00"]
)
async def test_times_out_of_range_or_without_offset_are_422(
    client: httpx.AsyncClient, owner: Account, moment: str
) -> None:
    """Every time the API takes has a range and an offset, checked at the edge (issue 12, 9)."""
    listed = await client.get(
        "/api/v1/images", params={"created_before": moment}, headers=owner.headers
    )
    assert listed.status_code == 422 and listed.json()["code"] == "validation_error"
    image = (await upload(client, owner, images.encode("PNG", size=(12, 9)))).json()["image"]
    patched = await client.patch(
        f"/api/v1/images/{image['id']}", json={"expires_at": moment}, headers=owner.headers
    )
    assert patched.status_code == 422 and patched.json()["code"] == "validation_error"
    key = await client.post(
        "/api/v1/api-keys", json={"key_name": "t", "expires_at": moment}, headers=owner.headers
    )
    assert key.status_code == 422 and key.json()["code"] == "validation_error"
