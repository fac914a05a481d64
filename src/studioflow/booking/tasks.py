"""Booking's background work."""

from __future__ import annotations

from datetime import UTC, datetime

from studioflow.booking import deposits, lifecycle, notices
from studioflow.platform.jobs import task
from studioflow.platform.runtime import Platform


@task("booking.cancel_unconfirmed", cron="7 * * * *", timeout=300, retries=3)
async def cancel_unconfirmed(platform: Platform) -> int:
    """Hourly: pending appointments not confirmed within a day are cancelled."""
    async with platform.db.transaction() as session:
        return await lifecycle.cancel_unconfirmed(platform, session, datetime.now(UTC))


@task("booking.send_reminders", cron="*/5 * * * *", timeout=300, retries=2)
async def send_reminders(platform: Platform) -> int:
    """Every 5 minutes: reminders 24 h and 2 h before; each is sent once (its handled row
    and its dedupe key), however many workers run the cron and however often it runs."""
    return await notices.send_reminders(platform, datetime.now(UTC))


@task("booking.expire_unpaid_deposits", cron="* * * * *", timeout=120, retries=2)
async def expire_unpaid_deposits(platform: Platform) -> int:
    """Every minute: appointments whose deposit was not paid in time are cancelled (their
    time is free again), each in its own transaction, a paid one left alone."""
    return await deposits.expire_unpaid(platform)
