"""Studio results expire (seed 001's artifacts TTL, a platform setting): the date is in the
API and on the run's page, "keep" takes it away, the purge job deletes what expired and the
workspace's storage goes down by its bytes; previews of results go after their own TTL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from studioflow.media import tasks as media_tasks
from studioflow.media.service import storage_used
from studioflow.models import Image, ImageVariant
from tests.factories import create_account
from tests.studio.conftest import Studio
from tests.studio.test_admin import admin_of


async def results(studio: Studio, execution_id: str) -> list[dict[str, object]]:
    return await studio.results(execution_id)


async def test_results_expire_unless_kept_and_the_purge_gives_storage_back(
    studio: Studio,
) -> None:
    await studio.grant(10)
    execution_id = await studio.execute(["a red kite", "a grey heron"])
    assert (await studio.wait(execution_id))["status"] == "completed"
    items = await results(studio, execution_id)
    now = datetime.now(UTC)
    for item in items:
        expires = datetime.fromisoformat(str(item["expires_at"]))
        assert now + timedelta(days=89) < expires <= now + timedelta(days=90, minutes=5)
    # Pages read the session cookie: sign in through the API for it.
    await studio.client.post(
        "/api/v1/auth/login",
        json={"identifier": studio.owner.email, "password": studio.owner.password},
    )
    page = await studio.client.get(f"/studio/executions/{execution_id}")
    assert "Keep all results" in page.text and "unless you keep them" in page.text
    studio.client.cookies.clear()

    # Another workspace cannot keep them (404), the owner can.
    stranger = await create_account(studio.client, studio.platform, "stranger@example.com")
    foreign = await studio.client.post(
        f"/api/v1/executions/{execution_id}/keep", headers=stranger.headers
    )
    assert foreign.status_code == 404

    # One result expires now: the purge deletes it and its files; storage goes down.
    first, second = (uuid.UUID(str(item["image_id"])) for item in items)
    client_id = uuid.UUID(studio.owner.client_id)
    for image_id in (first, second):  # their sizes rendered now, not during the count
        await media_tasks.render_presets(studio.platform, image_id=str(image_id))
    async with studio.platform.db.transaction() as session:
        before = await storage_used(session, client_id)
        gone = await session.get(Image, first)
        assert gone is not None
        variants = await session.scalar(
            select(func.coalesce(func.sum(ImageVariant.bytes), 0)).where(
                ImageVariant.image_id == first
            )
        )
        # The original, its public copy and its rendered sizes.
        gone_bytes, gone_key = gone.bytes + gone.public_bytes + int(variants), gone.original_key
        await session.execute(
            update(Image).where(Image.id == first).values(expires_at=now - timedelta(seconds=1))
        )
    kept = await studio.client.post(
        f"/api/v1/executions/{execution_id}/keep", headers=studio.headers
    )
    assert kept.status_code == 200 and kept.json() == {"kept": 1}  # the other had passed
    assert await media_tasks.purge_expired(studio.platform) == 1
    assert not await studio.platform.storage.exists(gone_key)
    async with studio.platform.db.transaction() as session:
        assert await storage_used(session, client_id) == before - gone_bytes
        assert await session.get(Image, first) is None
        survivor = await session.get(Image, second)
        assert survivor is not None and survivor.expires_at is None  # kept: in the gallery
    after = await results(studio, execution_id)
    assert after[1]["expires_at"] is None


async def test_a_zero_ttl_keeps_results_and_old_previews_of_expiring_results_go(
    studio: Studio,
) -> None:
    admin = await admin_of(studio)
    answer = await studio.client.put(
        "/api/v1/admin/settings", json={"ttl_artifacts_days": 0}, headers=admin.headers
    )
    assert answer.status_code == 200
    execution_id = await studio.execute(["a quiet lake"])
    await studio.wait(execution_id)
    (item,) = await results(studio, execution_id)
    assert item["expires_at"] is None
    await studio.client.put(
        "/api/v1/admin/settings", json={"ttl_artifacts_days": None}, headers=admin.headers
    )
    expiring = await studio.execute(["a windy moor"])
    await studio.wait(expiring)
    (result,) = await results(studio, expiring)
    image_id = uuid.UUID(str(result["image_id"]))
    # Its gallery sizes are rendered at once; make them look 91 days old.
    for _ in range(100):
        async with studio.platform.db.transaction() as session:
            count = await session.scalar(
                select(func.count()).where(ImageVariant.image_id == image_id)
            )
        if count:
            break
        await media_tasks.render_presets(studio.platform, image_id=str(image_id))
    async with studio.platform.db.transaction() as session:
        keys = list(
            (
                await session.scalars(
                    select(ImageVariant.storage_key).where(ImageVariant.image_id == image_id)
                )
            ).all()
        )
        await session.execute(
            update(ImageVariant)
            .where(ImageVariant.image_id == image_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=91))
        )
    assert keys
    assert await media_tasks.drop_old_previews(studio.platform) == len(keys)
    for key in keys:
        assert not await studio.platform.storage.exists(key)
    async with studio.platform.db.transaction() as session:
        assert await session.get(Image, image_id) is not None  # the result itself stays
