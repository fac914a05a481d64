"""The end of an account's life: data export and deletion after the grace period.

Stored files of a client live under ``clients/{client_id}/`` in the platform storage (the
media feature keeps to this); an export is written under ``exports/{user_id}/``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import UserInfo
from studioflow.identity.repository import LifecycleRepository, MemberRepository
from studioflow.models import Client, User
from studioflow.platform.db import after_commit
from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.identity.lifecycle")

EXPORT_LINK_TTL = timedelta(hours=24)


def client_prefix(client_id: uuid.UUID) -> str:
    return f"clients/{client_id}/"


def pseudonym(user_id: uuid.UUID) -> str:
    return "deleted-user-" + hashlib.sha256(str(user_id).encode()).hexdigest()[:10]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _personal_client(session: AsyncSession, user_id: uuid.UUID) -> Client | None:
    return await LifecycleRepository(session).personal_client(user_id)


async def collect_data(session: AsyncSession, user: User | UserInfo) -> dict[str, Any]:
    """Everything we hold about the user, as JSON-ready structures (no secrets or hashes)."""
    memberships = await MemberRepository(session).with_clients(user.id)
    lifecycle = LifecycleRepository(session)
    sessions = await lifecycle.sessions_of(user.id)
    keys = await lifecycle.keys_of(user.id)
    events = await lifecycle.doings_of(user.id)
    return {
        "account.json": {
            "id": str(user.id),
            "email": user.email,
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "platform_role": user.platform_role,
            "email_verified_at": _iso(user.email_verified_at),
            "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at),
        },
        "memberships.json": [
            {"client_id": str(c.id), "client": c.name, "role": m.role, "since": _iso(m.created_at)}
            for m, c in memberships
        ],
        "sessions.json": [
            {
                "id": str(s.id),
                "created_at": _iso(s.created_at),
                "last_used_at": _iso(s.last_used_at),
                "revoked_at": _iso(s.revoked_at),
                "method": s.method,
                "ip": s.ip,
                "user_agent": s.user_agent,
            }
            for s in sessions
        ],
        "api_keys.json": [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "client_id": str(k.client_id),
                "scopes": k.scopes,
                "created_at": _iso(k.created_at),
                "revoked_at": _iso(k.revoked_at),
                "requests_count": k.requests_count,
            }
            for k in keys
        ],
        "activity.json": [
            {
                "event": e.event,
                "client_id": str(e.client_id) if e.client_id else None,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "data": e.data,
                "at": _iso(e.created_at),
            }
            for e in events
        ],
    }


async def build_export(platform: Platform, session: AsyncSession, user: User | UserInfo) -> Path:
    """A ZIP of the user's data and personal files, on disk (never whole in memory)."""
    data = await collect_data(session, user)
    staging = platform.settings.data_dir / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=staging, prefix="export-", suffix=".zip", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    handle.close()
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in data.items():
                archive.writestr(name, json.dumps(content, indent=2, ensure_ascii=False))
            # Images are compressed already: store files as they are, no CPU spent on zlib.
            personal = await _personal_client(session, user.id)
            if personal is not None:
                prefix = client_prefix(personal.id)
                async for info in platform.storage.list(prefix):
                    entry = zipfile.ZipInfo("files/" + info.key[len(prefix) :])
                    entry.compress_type = zipfile.ZIP_STORED
                    with archive.open(entry, "w", force_zip64=True) as target:
                        async for chunk in platform.storage.stream(info.key):
                            target.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # noqa: ASYNC240 - our own temp file
        raise
    return path


async def export_to_link(platform: Platform, user_id: uuid.UUID) -> str | None:
    """Build the export, store it, and return a signed link valid for a day."""
    async with platform.db.transaction() as session:
        user = await LifecycleRepository(session).user(user_id)
        if user is None:
            return None
        path = await build_export(platform, session, user)
        try:
            key = f"exports/{user.id}/{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.zip"
            await platform.storage.put(key, path, content_type="application/zip")
        finally:
            path.unlink(missing_ok=True)
        await audit.record(session, "user.exported", actor_user_id=user.id, actor_label=user.email)
        return await platform.storage.signed_url(key, expires_in=EXPORT_LINK_TTL)


async def delete_account(platform: Platform, session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Remove a user whose grace period is over: rows, stored files, and their name from the
    audit log (rows stay, pseudonymised). Idempotent: a second run finds nothing to do."""
    lifecycle = LifecycleRepository(session)
    user = await lifecycle.locked(user_id)
    now = datetime.now(UTC)
    if user is None or user.delete_after is None or user.delete_after > now:
        return False
    label = pseudonym(user.id)
    prefixes: list[str] = [f"exports/{user.id}/"]
    personal = await _personal_client(session, user.id)
    if personal is not None:
        prefixes.append(client_prefix(personal.id))
    # Team clients the user alone belongs to would be orphans: they go too.
    orphan_ids = await MemberRepository(session).teams_alone_in(user.id)
    prefixes += [client_prefix(client_id) for client_id in orphan_ids]
    await lifecycle.pseudonymise(user.id, label)
    if orphan_ids:
        await lifecycle.delete_clients(orphan_ids)
    if personal is not None:
        await session.delete(personal)
    await session.delete(user)
    await session.flush()
    await audit.record(session, "user.deleted", actor_label=label)

    async def remove_files() -> None:
        # After the commit: if this fails part-way the rows are already gone and the next
        # storage check (fsck) finds the leftovers; the reverse order could lose the account
        # data while its rows survive.
        for prefix in prefixes:
            async for info in platform.storage.list(prefix):
                await platform.storage.delete(info.key)

    after_commit(session, remove_files)
    log.info("identity.account_deleted", user=label)
    return True


async def due_for_deletion(session: AsyncSession, *, limit: int = 100) -> list[uuid.UUID]:
    return await LifecycleRepository(session).due_for_deletion(datetime.now(UTC), limit=limit)
