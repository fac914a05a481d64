"""Uploads racing at the quota edge, on a database where requests really run concurrently."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update

from studioflow.app import create_app
from studioflow.demo import create_admin
from studioflow.models import Plan
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import Platform, build_platform
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.media import images


@pytest_asyncio.fixture
async def committed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, Platform]]:
    """A platform on its own database: no shared test transaction, real concurrent sessions."""
    if backend == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
        drop = None
    else:
        import asyncpg

        from studioflow.settings import normalise_database_url

        assert TEST_DATABASE_URL is not None
        admin_url = normalise_database_url(TEST_DATABASE_URL).replace(
            "postgresql+asyncpg", "postgresql"
        )
        name = f"sf_race_{uuid.uuid4().hex[:8]}"
        connection = await asyncpg.connect(admin_url)
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()
        url = normalise_database_url(admin_url.rpartition("/")[0] + f"/{name}")
        drop = (admin_url, name)
    s3 = request.getfixturevalue("s3_server") if backend == "scale" else None
    settings = make_settings(backend, tmp_path / "data", database_url=url, s3=s3)
    platform = build_platform(settings)
    await upgrade(platform.db.engine)
    async with platform.db.transaction() as session:
        await seed_reference_data(session)
    try:
        yield settings, platform
    finally:
        await platform.close()
        if drop:
            import asyncpg

            connection = await asyncpg.connect(drop[0])
            await connection.execute(f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')
            await connection.close()


async def test_racing_uploads_never_pass_the_daily_limit(
    committed: tuple[Settings, Platform],
) -> None:
    settings, platform = committed
    async with platform.db.transaction() as session:
        await create_admin(session, email="racer@example.com", password="a racing passphrase")
        await session.execute(update(Plan).where(Plan.name == "free").values(uploads_per_day=3))
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=app)
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
