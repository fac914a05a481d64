"""Notifications' background work: sending each delivery, and forgetting old read ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from studioflow.notifications import delivery
from studioflow.notifications.repository import NotificationRepository
from studioflow.notifications.service import DELIVER_TASK, READ_KEPT
from studioflow.platform.jobs import task
from studioflow.platform.runtime import Platform


# Retries with backoff (5 s doubling to 10 min) ride out a provider's rate limit or outage;
# the delivery's own attempt count decides when to give up (delivery.MAX_ATTEMPTS).
@task(DELIVER_TASK, timeout=60, retries=delivery.MAX_ATTEMPTS, retry_delay=5.0,
      retry_backoff=600.0)  # fmt: skip
async def deliver(platform: Platform, *, delivery_id: str) -> str:
    """Send one notification delivery (email, SMS or push)."""
    return await delivery.deliver(platform, uuid.UUID(delivery_id))


@task("notifications.prune_read", cron="41 4 * * *", timeout=300, retries=3)
async def prune_read(platform: Platform) -> int:
    """Daily: read in-app notifications older than 90 days go."""
    async with platform.db.transaction() as session:
        return await NotificationRepository(session).prune_read_before(
            datetime.now(UTC) - READ_KEPT
        )
