"""Background jobs of the platform itself: sending mail and tidying local staging files."""

from __future__ import annotations

import time
from email import message_from_string
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.platform.jobs import task

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.tasks")

STAGING_MAX_AGE_SECONDS = 24 * 3600


def send_mail_later(platform: Platform, session: AsyncSession, message: EmailMessage) -> None:
    """Send ``message`` from a job once ``session`` commits (retried if SMTP is away)."""
    platform.queue.defer(session, "mail.send", message=message.as_string())


@task("mail.send", timeout=60, retries=8, retry_delay=5.0, retry_backoff=600.0, ttl=86400)
async def send_mail(platform: Platform, *, message: str) -> None:
    parsed = message_from_string(message, _class=EmailMessage, policy=SMTP)
    await platform.mailer.send(parsed)


@task("storage.cleanup_staging", timeout=600, retries=1, cron="17 3 * * *")
async def cleanup_staging(platform: Platform) -> int:
    """Remove staging files a crashed process left in the local store and the outbox.

    Finished objects are never touched: staging names contain ``#`` (obstore) or end in
    ``.part`` (outbox), which no storage key or message file can.
    """
    roots: list[Path] = [platform.outbox]
    if platform.storage.kind == "local":
        roots.append(Path(platform.storage.store.prefix))
    cutoff = time.time() - STAGING_MAX_AGE_SECONDS
    removed = 0
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            is_staging = "#" in path.name or path.name.endswith(".part")
            if is_staging and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("storage.staging_removed", count=removed)
    return removed
