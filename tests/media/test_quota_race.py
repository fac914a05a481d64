"""Uploads racing at the quota edge, on a database where requests really run concurrently."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import update

from studioflow.app import create_app, served
from studioflow.demo import create_admin
from studioflow.models import Plan
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.media import images


async def test_racing_uploads_never_pass_the_daily_limit(
    committed: tuple[Settings, Platform],
) -> None:
    settings, platform = committed
    async with platform.db.transaction() as session:
        await create_admin(
            session,
            email="racer@example.com",
            password_hash=await platform.passwords.hash("a racing passphrase"),
        )
        await session.execute(update(Plan).where(Plan.name == "free").values(uploads_per_day=3))
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=60
    ) as client:
        login = await client.post(
            "/api/v1/auth/login",
            json={"identifier": "racer@example.com", "password": "a racing passphrase"},
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        client.cookies.clear()

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
