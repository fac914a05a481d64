"""Background jobs of the platform itself: sending mail (sealed in the job) and tidying
local staging files."""

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
from studioflow.platform.security import decrypt_secret, encrypt_secret

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.tasks")

STAGING_MAX_AGE_SECONDS = 24 * 3600


MAIL_PURPOSE = "outgoing-mail"


def send_mail_later(platform: Platform, session: AsyncSession, message: EmailMessage) -> None:
    """Send ``message`` from a job once ``session`` commits (retried if SMTP is away).

    The job carries the message sealed (AES-GCM under a key derived from the secret), opened
    only in the worker, and its record is deleted when it finishes: neither Redis nor the
    queue monitor ever holds a readable code or sign-in link.
    """
    sealed = encrypt_secret(platform.settings.secret, MAIL_PURPOSE, message.as_string())
    platform.queue.defer(session, "mail.send", sealed=sealed)


# ttl=-1: SAQ drops the job's record (its sealed message included) as soon as it is done.
@task("mail.send", timeout=60, retries=8, retry_delay=5.0, retry_backoff=600.0, ttl=-1)
async def send_mail(platform: Platform, *, sealed: str = "", message: str = "") -> bool:
    """Send one message; False if it cannot be opened (sealed under another secret key).

    ``message`` is the form of jobs queued by releases before sealing (the message in the
    clear): still sent, so an upgrade loses none of them. Nothing queues it any more.
    """
    if not message:
        try:
            message = decrypt_secret(platform.settings.secret, MAIL_PURPOSE, sealed)
        except ValueError:
            # No retry can open it; the log names no part of it.
            log.error("mail.undecryptable")
            return False
    await platform.mailer.send(message_from_string(message, _class=EmailMessage, policy=SMTP))
    return True


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


@task("platform.prune_error_events", cron="17 4 * * *", timeout=300, retries=3)
async def prune_error_events(platform: Platform) -> int:
    """Daily: forget recorded 500s older than 30 days."""
    from studioflow.platform import error_log

    return await error_log.prune(platform)
