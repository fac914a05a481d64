"""Expiry purge and storage consistency (fsck)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from studioflow.media import fsck
from studioflow.media.tasks import purge_expired
from studioflow.models import Image
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "keeper@example.com")


async def put(client: httpx.AsyncClient, owner: Account, size: tuple[int, int]) -> str:
    response = await client.post(
        "/upload",
        files={"file": ("x.png", images.encode("PNG", size=size), "image/png")},
        headers=owner.headers,
    )
    assert response.status_code == 201
    return str(response.json()["image"]["id"])


async def keys(platform: Platform) -> list[str]:
    return [i.key async for i in platform.storage.list("clients/")]


async def test_expired_images_are_purged(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    soon = await put(client, owner, (5, 5))
    stays = await put(client, owner, (6, 6))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        await client.patch(
            f"/api/v1/images/{soon}", json={"expires_at": future}, headers=owner.headers
        )
    ).status_code == 200
    await client.get(f"/i/{soon}?size=thumb")
    assert await purge_expired(platform) == 0
    async with platform.db.transaction() as session:
        await session.execute(
            update(Image)
            .where(Image.expires_at.is_not(None))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await client.get(f"/i/{soon}")).status_code == 404  # expired answers 404 at once
    assert await purge_expired(platform) == 1
    remaining = await keys(platform)
    assert remaining and all(stays in k for k in remaining)
    assert (await client.get(f"/i/{stays}")).status_code == 200


async def test_fsck_finds_and_repairs(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    good = await put(client, owner, (5, 5))
    broken = await put(client, owner, (7, 7))
    clean = await fsck.check(platform)
    assert clean.orphan_objects == [] and clean.missing_objects == [] and clean.rows_checked == 2
    orphan = f"clients/{owner.client_id}/images/00000000-0000-7000-8000-000000000000/original.png"
    await platform.storage.put(orphan, b"left behind")
    async with platform.db.sessionmaker() as session:
        row = await session.get(Image, uuid.UUID(broken))
        assert row is not None
        await platform.storage.delete(row.original_key)
    report = await fsck.check(platform)
    assert report.orphan_objects == [orphan] and len(report.missing_objects) == 1
    # Young orphans may be uploads in flight: repair leaves them until the grace has passed.
    fsck_grace, fsck.GRACE = fsck.GRACE, timedelta(seconds=-1)
    try:
        repaired = await fsck.check(platform, repair=True)
    finally:
        fsck.GRACE = fsck_grace
    assert repaired.repaired == 2
    after = await fsck.check(platform)
    assert after.orphan_objects == [] and after.missing_objects == [] and after.rows_checked == 1
    assert (await client.get(f"/i/{good}")).status_code == 200
    assert (await client.get(f"/i/{broken}")).status_code == 404
