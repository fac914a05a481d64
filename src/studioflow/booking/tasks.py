"""Booking's background work."""

from __future__ import annotations

from datetime import UTC, datetime

from studioflow.booking import lifecycle
from studioflow.platform.jobs import task
from studioflow.platform.runtime import Platform


@task("booking.cancel_unconfirmed", cron="7 * * * *", timeout=300, retries=3)
async def cancel_unconfirmed(platform: Platform) -> int:
    """Hourly: pending appointments not confirmed within a day are cancelled."""
    async with platform.db.transaction() as session:
        return await lifecycle.cancel_unconfirmed(session, datetime.now(UTC))
