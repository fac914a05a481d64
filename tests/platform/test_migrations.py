"""Migrations on a database that has data in it: what a site upgrading from the revision
before meets. On SQLite a column change rebuilds the table, and with foreign keys on, the
rebuild's DROP TABLE would cascade to the rows that point at it; nothing may be lost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Insert, Uuid, column, insert, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from studioflow.models.base import UTCDateTime
from studioflow.platform.db import create_engine
from studioflow.platform.migrations import current_revision, head_revision, upgrade
from tests.conftest import new_postgres_database

BEFORE_ALBUM_IMAGES = "20261202_0100"


@pytest.fixture
async def empty_engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of its own with nothing in it yet."""
    if backend == "embedded":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'upgrade.db'}")
        yield engine
        await engine.dispose()
        return
    async with new_postgres_database("sf_upgrade") as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


def image_row(client: uuid.UUID, album: uuid.UUID | None, n: int) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "client_id": client,
        "album_id": album,
        "filename": f"{n}.png",
        "content_hash": f"{n:064d}",
        "format": "png",
        "mime_type": "image/png",
        "bytes": 10,
        "public_bytes": 10,
        "width": 1,
        "height": 1,
        "frames": 1,
        "has_alpha": False,
        "dominant_color": "#000000",
        "is_public": True,
        "keep_metadata": False,
        "views": 0,
        "original_key": f"o/{n}",
        "public_key": f"p/{n}",
        "created_at": datetime(2026, 12, 1, n, tzinfo=UTC),
    }


def insert_into(name: str, row: dict[str, object]) -> Insert:
    """An INSERT of one row into a table of an older revision, typed as the models type
    them (UUIDs, aware times and JSON are stored differently on the two databases)."""

    def typed(value: object) -> Any:
        if isinstance(value, uuid.UUID):
            return Uuid()
        if isinstance(value, datetime):
            return UTCDateTime()
        if isinstance(value, dict):
            return JSON()
        return None

    columns = [column(key, typed(value)) for key, value in row.items()]
    return insert(table(name, *columns)).values(row)


async def test_album_images_keep_every_membership_variant_and_image(
    empty_engine: AsyncEngine,
) -> None:
    engine = empty_engine
    await upgrade(engine, BEFORE_ALBUM_IMAGES)
    client, album = uuid.uuid4(), uuid.uuid4()
    in_album, loose = image_row(client, album, 1), image_row(client, None, 2)
    variants = [
        {
            "id": uuid.uuid4(),
            "image_id": row["id"],
            "spec": "thumb",
            "format": "webp",
            "bytes": 5,
            "storage_key": f"v/{row['id']}",
            "created_at": datetime.now(UTC),
        }
        for row in (in_album, loose)
    ]
    async with engine.begin() as connection:
        await connection.execute(
            insert_into("clients", {"id": client, "name": "C", "plan": "free", "settings": {}})
        )
        await connection.execute(
            insert_into("albums", {"id": album, "client_id": client, "title": "Trips"})
        )
        for row in (in_album, loose):
            await connection.execute(insert_into("images", row))
        for row in variants:
            await connection.execute(insert_into("image_variants", row))

    await upgrade(engine)

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        memberships = (
            await connection.execute(text("SELECT album_id, image_id FROM album_images"))
        ).all()
        variants = (await connection.execute(text("SELECT count(*) FROM image_variants"))).scalar()
        images = (await connection.execute(text("SELECT count(*) FROM images"))).scalar()
    # Read back as text: hex on SQLite, the canonical form on PostgreSQL.
    assert [(uuid.UUID(str(a)), uuid.UUID(str(i))) for a, i in memberships] == [
        (album, in_album["id"])
    ]
    assert (images, variants) == (2, 2)
    if engine.dialect.name == "sqlite":
        # Foreign keys are on again for the pooled connection the migration used.
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
