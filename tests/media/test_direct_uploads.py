"""Direct uploads (issue 15, seed 001's presigned uploads): the client PUTs the bytes to a
signed URL (moto's S3 at scale, this app's signed route on local storage) and completes
the upload, which checks them as POST /upload does; a refusal leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from studioflow.media import direct_uploads
from studioflow.models import Image
from studioflow.platform.runtime import Platform
from tests.admin.test_users import make_admin
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images


async def start(
    client: httpx.AsyncClient, who: Account, data: bytes, **extra: object
) -> httpx.Response:
    body = {"filename": "big.png", "content_type": "image/png", "bytes": len(data), **extra}
    return await client.post("/api/v1/uploads", json=body, headers=who.headers)


async def put(client: httpx.AsyncClient, target: dict[str, object], data: bytes) -> httpx.Response:
    """PUT as a client would: to this app through the test transport, to S3 over the net."""
    url = str(target["upload_url"])
    headers = {k: str(v) for k, v in dict(target["headers"]).items()}  # type: ignore[call-overload]
    if url.startswith("http://testserver/"):
        return await client.put(url, content=data, headers=headers)
    async with httpx.AsyncClient() as outside:
        return await outside.put(url, content=data, headers=headers)


async def test_a_direct_upload_becomes_an_image_and_leaves_no_bytes_behind(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    owner = await create_account(client, platform, "owner@example.com")
    data = images.noise_png((64, 48))
    started = await start(client, owner, data, title="From the CLI")
    assert started.status_code == 201, started.text
    target = started.json()
    assert target["method"] == "PUT" and target["headers"]["Content-Length"] == str(len(data))
    sent = await put(client, target, data)
    assert sent.status_code == 200, sent.text
    done = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=owner.headers
    )
    assert done.status_code == 201, done.text
    image = done.json()
    assert (image["width"], image["height"], image["title"]) == (64, 48, "From the CLI")
    assert image["expires_at"] is None  # a hosted image never expires by itself
    key = direct_uploads.upload_key(owner.client_id, target["upload_id"])  # type: ignore[arg-type]
    assert not await platform.storage.exists(key)
    again = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=owner.headers
    )
    assert again.status_code == 201 and again.json()["id"] == image["id"]
    # Another workspace: 404 for its upload.
    stranger = await create_account(client, platform, "stranger@example.com")
    foreign = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=stranger.headers
    )
    assert foreign.status_code == 404


async def test_refusals_cost_no_transfer_and_leave_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    owner = await create_account(client, platform, "owner@example.com")
    png = images.noise_png((20, 20))
    for extra, status, code in (
        ({"content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"bytes": 10**12}, 413, "payload_too_large"),
        ({"purpose": "video"}, 422, "purpose_unavailable"),
        ({"bytes": 0}, 422, "validation_error"),
    ):
        refused = await start(client, owner, png, **extra)
        assert refused.status_code == status and refused.json()["code"] == code, extra
    # Bytes that are not an image: 415 at completion, and they are deleted.
    garbage = b"this is not an image at all" * 10
    target = (await start(client, owner, garbage)).json()
    assert (await put(client, target, garbage)).status_code == 200
    done = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=owner.headers
    )
    assert done.status_code == 415
    key = direct_uploads.upload_key(owner.client_id, target["upload_id"])  # type: ignore[arg-type]
    assert not await platform.storage.exists(key)
    missing = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=owner.headers
    )
    assert missing.status_code == 409 and missing.json()["code"] == "upload_missing"
    # Another size than declared (a store that took it): 422, and deleted.
    target = (await start(client, owner, png)).json()
    key = direct_uploads.upload_key(owner.client_id, target["upload_id"])  # type: ignore[arg-type]
    await platform.storage.put(key, png + b"tail")
    mismatch = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=owner.headers
    )
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "size_mismatch"
    assert not await platform.storage.exists(key)
    async with platform.db.read() as session:
        assert (await session.scalars(select(Image))).all() == []


async def test_the_local_upload_url_takes_exactly_what_was_signed(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    if platform.storage.kind != "local":
        return  # S3 checks its own signatures
    owner = await create_account(client, platform, "owner@example.com")
    png = images.noise_png((20, 20))
    target = (await start(client, owner, png)).json()
    url = target["upload_url"]
    headers = dict(target["headers"])
    longer = await client.put(
        url, content=png + b"x", headers={**headers, "Content-Length": str(len(png) + 1)}
    )
    assert longer.status_code == 403  # the length is part of the signature
    other_type = await client.put(
        url, content=png, headers={**headers, "Content-Type": "image/gif"}
    )
    assert other_type.status_code == 403
    forged = await client.put(
        url.replace("signature=", "signature=0"), content=png, headers=headers
    )
    assert forged.status_code == 403
    key = direct_uploads.upload_key(owner.client_id, target["upload_id"])  # type: ignore[arg-type]
    assert not await platform.storage.exists(key)
    assert (await client.put(url, content=png, headers=headers)).status_code == 200


async def test_a_reference_expires_and_stale_bytes_are_purged(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "owner@example.com")
    png = images.noise_png((30, 30))
    target = (await start(client, owner, png, purpose="reference")).json()
    await put(client, target, png)
    done = await client.post(
        f"/api/v1/uploads/{target['upload_id']}/complete", headers=owner.headers
    )
    assert done.status_code == 201, done.text
    expires = datetime.fromisoformat(done.json()["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert done.json()["is_public"] is False
    # The platform's reference limit applies below the plan's.
    await client.put(
        "/api/v1/admin/settings", json={"max_original_bytes": 1024}, headers=admin.headers
    )
    too_big = await start(client, owner, b"x" * 2048, purpose="reference")
    assert too_big.status_code == 413
    # Bytes sent and never completed go after the intermediates' TTL (48 h).
    left = (await start(client, owner, png)).json()
    await put(client, left, png)
    key = direct_uploads.upload_key(owner.client_id, left["upload_id"])  # type: ignore[arg-type]
    assert await direct_uploads.purge_stale(platform) == 0
    assert await platform.storage.exists(key)
    later = datetime.now(UTC) + timedelta(hours=49)
    assert await direct_uploads.purge_stale(platform, now=later) == 1
    assert not await platform.storage.exists(key)
