"""Scheduled and background jobs of the identity feature."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import structlog

from studioflow.identity import api_keys, lifecycle
from studioflow.models import User
from studioflow.platform.jobs import task
from studioflow.platform.mail import build_message

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.identity.tasks")


@task("identity.purge_deleted_accounts", cron="23 * * * *", timeout=900, retries=3)
async def purge_deleted_accounts(platform: Platform) -> int:
    """Hourly: delete the accounts whose 7-day grace period is over, one transaction each."""
    async with platform.db.transaction() as session:
        due = await lifecycle.due_for_deletion(session)
    deleted = 0
    for user_id in due:
        async with platform.db.transaction() as session:
            deleted += await lifecycle.delete_account(platform, session, user_id)
    return deleted


@task("identity.export_account", timeout=1800, heartbeat=60, retries=3)
async def export_account(platform: Platform, *, user_id: str) -> bool:
    """Build the user's export and email them a link valid for 24 hours."""
    link = await lifecycle.export_to_link(platform, uuid.UUID(user_id))
    if link is None:
        return False
    async with platform.db.read() as session:
        user = await session.get(User, uuid.UUID(user_id))
    if user is None:
        return False
    await platform.mailer.send(
        build_message(
            sender=platform.settings.mail_from,
            to=user.email,
            subject="Your Studioflow data export is ready",
            text=f"Download your data (zipped JSON and files) within 24 hours:\n{link}\n",
        )
    )
    return True


@task("identity.flush_key_uses", cron="* * * * *", timeout=300, retries=3)
async def flush_key_uses(platform: Platform) -> int:
    """Every minute: add the buffered uses of API keys to their rows."""
    return await api_keys.flush_uses(platform)
