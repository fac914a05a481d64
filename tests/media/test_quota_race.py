"""Uploads racing at the quota edge, on a database where requests really run concurrently."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from studioflow.models import Plan
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.factories import admin_client
from tests.media import images


async def test_racing_uploads_never_pass_the_daily_limit(
    committed: tuple[Settings, Platform],
) -> None:
    settings, platform = committed
    async with platform.db.transaction() as session:
        await session.execute(update(Plan).where(Plan.name == "free").values(uploads_per_day=3))
    async with admin_client(settings, platform, "racer@example.com") as (client, headers):

        async def one(n: int) -> int:
            data = images.noise_png((20 + n, 20))
            response = await client.post(
                "/upload", files={"file": (f"{n}.png", data, "image/png")}, headers=headers
            )
            return response.status_code

        statuses = await asyncio.gather(*(one(n) for n in range(8)))
    assert sorted(statuses) == [201] * 3 + [429] * 5, statuses
    stored = [info.key async for info in platform.storage.list("clients/")]
    assert len(stored) == 6  # three uploads, two files each: the refused left nothing
