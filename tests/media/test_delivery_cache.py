"""The delivery cache: a cached hit reads no database, and every change is seen at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from studioflow.admin import service as admin_service
from studioflow.media.delivery_cache import CHANNEL
from studioflow.media.repository import ViewRepository
from studioflow.models import Client, Image
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images
from tests.sql_seen import statements


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "cached@example.com")


async def put(client: httpx.AsyncClient, owner: Account) -> str:
    data = images.noise_png((40, 30))
    response = await client.post(
        "/upload", files={"file": ("c.png", data, "image/png")}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["image"]["id"])


async def test_a_cached_hit_reads_no_database(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    image_id = await put(client, owner)
    for path in (f"/i/{image_id}", f"/i/{image_id}?size=thumb"):
        assert (await client.get(path)).status_code == 200  # first: read (and rendered)
        with statements(platform) as seen:
            again = await client.get(path)
        assert again.status_code == 200 and again.content
        assert seen == []
    # Views counted by the analytics job are not something delivery reads: still cached.
    async with platform.db.transaction() as session:
        await ViewRepository(session).count_views(uuid.UUID(image_id), 3)
    with statements(platform) as seen:
        assert (await client.get(f"/i/{image_id}")).status_code == 200
    assert seen == []


async def test_visibility_and_deletion_take_effect_at_once(
    client: httpx.AsyncClient, owner: Account
) -> None:
    image_id = await put(client, owner)
    assert (await client.get(f"/i/{image_id}")).status_code == 200
    hidden = await client.patch(
        f"/api/v1/images/{image_id}", json={"is_public": False}, headers=owner.headers
    )
    assert hidden.status_code == 200
    assert (await client.get(f"/i/{image_id}")).status_code == 404
    shown = await client.patch(
        f"/api/v1/images/{image_id}", json={"is_public": True}, headers=owner.headers
    )
    assert shown.status_code == 200
    assert (await client.get(f"/i/{image_id}?size=small")).status_code == 200
    deleted = await client.delete(f"/api/v1/images/{image_id}", headers=owner.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/i/{image_id}")).status_code == 404
    assert (await client.get(f"/i/{image_id}?size=small")).status_code == 404


async def test_client_settings_and_plan_limits_take_effect_at_once(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    image_id = await put(client, owner)
    elsewhere = {"Referer": "https://other.example/page"}
    assert (await client.get(f"/i/{image_id}", headers=elsewhere)).status_code == 200
    changed = await client.patch(
        f"/api/v1/clients/{owner.client_id}",
        json={"allowed_referrers": ["mine.example"]},
        headers=owner.headers,
    )
    assert changed.status_code == 200
    blocked = await client.get(f"/i/{image_id}", headers=elsewhere)
    assert blocked.status_code == 403 and blocked.json()["code"] == "hotlink_blocked"
    assert (await client.get(f"/i/{image_id}")).status_code == 200  # no Referer: allowed

    async with platform.db.read() as session:
        plan = await session.scalar(
            select(Client.plan).where(Client.id == uuid.UUID(owner.client_id))
        )
    assert plan is not None
    async with platform.db.transaction() as session:
        await admin_service.update_plan(session, plan, {"bandwidth_bytes_month": 1})
    over = await client.get(f"/i/{image_id}")
    assert over.status_code == 429 and over.json()["code"] == "quota_exceeded"


async def test_a_bulk_change_drops_every_entry(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    image_id = await put(client, owner)
    assert (await client.get(f"/i/{image_id}")).status_code == 200
    async with platform.db.transaction() as session:
        # No unit-of-work object says which image changed: a bulk statement drops them all.
        await session.execute(
            update(Image).where(Image.id == uuid.UUID(image_id)).values(is_public=False)
        )
    assert (await client.get(f"/i/{image_id}")).status_code == 404


async def test_changes_are_published_and_a_rolled_back_change_is_not(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    image_id = await put(client, owner)
    async with platform.events.subscribe(CHANNEL) as published:
        async with platform.db.transaction() as session:
            image = await session.get(Image, uuid.UUID(image_id))
            assert image is not None
            image.title = "only the title"  # nothing delivery reads: no message
        with pytest.raises(RuntimeError):
            async with platform.db.transaction() as session:
                image = await session.get(Image, uuid.UUID(image_id))
                assert image is not None
                image.is_public = False
                await session.flush()
                raise RuntimeError("rolled back")
        async with platform.db.transaction() as session:
            image = await session.get(Image, uuid.UUID(image_id))
            assert image is not None
            image.expires_at = None
            image.filename = "renamed.png"
        message = await published.get(timeout=5)
        assert message == {"images": [image_id], "clients": [], "all": False}
        assert published.drain() == []
    assert (await client.get(f"/i/{image_id}")).status_code == 200


async def test_expiry_is_judged_at_each_request(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    """An entry cached before its image expires does not outlive it."""
    image_id = await put(client, owner)
    async with platform.db.transaction() as session:
        image = await session.get(Image, uuid.UUID(image_id))
        assert image is not None
        expires_at = image.expires_at = datetime.now(UTC) + timedelta(seconds=3)
    assert (await client.get(f"/i/{image_id}")).status_code == 200
    await asyncio.sleep((expires_at - datetime.now(UTC)).total_seconds() + 0.2)
    assert (await client.get(f"/i/{image_id}")).status_code == 404


async def test_the_hot_path_answers_as_the_route_does(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    """The second request of a thumbnail is answered before routing (media/hot_path.py):
    the same status, headers and bytes as the route's, 304 and HEAD included, and its bytes
    are counted like the route's."""
    image_id = await put(client, owner)
    path = f"/i/{image_id}?size=thumb&v=1"
    first = await client.get(path)  # the route (renders, fills the cache)
    with statements(platform) as seen:
        second = await client.get(path)  # the hot path
    assert seen == []

    def comparable(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in {"x-request-id", "date"}}

    assert second.status_code == first.status_code == 200
    assert comparable(second) == comparable(first) and second.content == first.content
    etag = first.headers["etag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    head = await client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))
    month = datetime.now(UTC).strftime("%Y%m")
    await platform.tally.flush()  # the app's tally task does this every quarter second
    counted = await platform.counters.get(f"bandwidth:{owner.client_id}:{month}")
    assert counted == 2 * len(first.content)  # two GETs with bytes; 304 and HEAD send none
    # A range, or a parameter the hot path does not know, goes to the route.
    ranged = await client.get(path, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == first.content[:10]
    assert (await client.get(path + "&download=true")).headers["content-disposition"]
    # Blank values mean what they mean on the route: `size=` is refused, `v=` is unversioned.
    assert (await client.get(f"/i/{image_id}?size=")).status_code == 422
    plain = await client.get(f"/i/{image_id}?size=thumb&v=")
    assert plain.headers["cache-control"] == "public, max-age=86400"
