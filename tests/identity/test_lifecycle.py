"""Data export and account deletion after the grace period."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from studioflow.identity.lifecycle import client_prefix, pseudonym
from studioflow.identity.tasks import purge_deleted_accounts
from studioflow.models import AuditEvent, Client, User
from studioflow.platform.runtime import Platform
from tests.identity.helpers import body_of, sign_up, wait_for_mail


async def test_export_download_has_data_and_files(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    account = await sign_up(client, platform, "export@example.com", first_name="Ex")
    await platform.storage.put(
        client_prefix(uuid.UUID(account.client_id)) + "images/cat.png", b"\x89PNG cat"
    )
    response = await client.get("/api/v1/account/export", headers=account.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {
        "account.json",
        "memberships.json",
        "sessions.json",
        "api_keys.json",
        "activity.json",
    } <= names
    assert json.loads(archive.read("account.json"))["email"] == "export@example.com"
    assert archive.read("files/images/cat.png") == b"\x89PNG cat"
    activity = json.loads(archive.read("activity.json"))
    assert any(e["event"] == "auth.login" for e in activity)
    assert "password" not in archive.read("account.json").decode()
    leftovers = list((platform.settings.data_dir / "tmp").glob("export-*.zip"))
    assert leftovers == [], "the temporary export file was not removed"


async def test_export_by_email_link(client: httpx.AsyncClient, platform: Platform) -> None:
    account = await sign_up(client, platform, "linked@example.com")
    assert (await client.post("/api/v1/account/export", headers=account.headers)).status_code == 202
    message = await wait_for_mail(platform, "linked@example.com", subject="export", timeout=20)
    link = next(line for line in body_of(message).splitlines() if line.startswith("http"))
    if platform.storage.kind == "local":
        response = await client.get(link.removeprefix("http://testserver"))
    else:
        async with httpx.AsyncClient() as http:
            response = await http.get(link)
    assert response.status_code == 200
    assert "account.json" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()


async def test_deletion_after_the_grace_period(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    gone = await sign_up(client, platform, "leaving@example.com")
    stays = await sign_up(client, platform, "staying@example.com")
    team = (
        await client.post("/api/v1/clients", json={"name": "Solo team"}, headers=gone.headers)
    ).json()["id"]
    await platform.storage.put(client_prefix(uuid.UUID(gone.client_id)) + "a.bin", b"mine")
    await platform.storage.put(client_prefix(uuid.UUID(team)) + "b.bin", b"team")
    await platform.storage.put(client_prefix(uuid.UUID(stays.client_id)) + "c.bin", b"theirs")
    for account in (gone, stays):
        assert (
            await client.post("/api/v1/account/delete-request", headers=account.headers)
        ).status_code == 200
    # Each is told by email when, and how to stop it.
    notice = await wait_for_mail(platform, "leaving@example.com", subject="will be deleted")
    assert "/account#data-h" in notice.as_string() and "UTC" in notice.as_string()
    # Not yet due: nothing happens.
    assert await purge_deleted_accounts(platform) == 0
    async with platform.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.email == "leaving@example.com")
            .values(delete_after=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert await purge_deleted_accounts(platform) == 1
    assert await purge_deleted_accounts(platform) == 0  # idempotent
    async with platform.db.sessionmaker() as session:
        assert await session.scalar(select(User).where(User.email == "leaving@example.com")) is None
        assert await session.scalar(select(Client).where(Client.id == uuid.UUID(team))) is None
        labels = set((await session.scalars(select(AuditEvent.actor_label))).all())
        rows = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.actor_label == pseudonym(uuid.UUID(gone.user_id))
                )
            )
        ).all()
    assert "leaving@example.com" not in labels
    assert rows and all(r.ip is None and r.user_agent is None for r in rows)
    assert await platform.storage.head(client_prefix(uuid.UUID(gone.client_id)) + "a.bin") is None
    assert await platform.storage.head(client_prefix(uuid.UUID(team)) + "b.bin") is None
    assert (
        await platform.storage.head(client_prefix(uuid.UUID(stays.client_id)) + "c.bin") is not None
    )
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": "leaving@example.com", "password": gone.password}
    )
    assert login.status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=gone.headers)).status_code == 401
