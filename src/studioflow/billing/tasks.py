"""Scheduled billing jobs: the monthly plan credits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from studioflow.billing import credits
from studioflow.billing.repository import CreditRepository, PlanRepository
from studioflow.platform.jobs import task

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.billing")
BATCH = 500


async def grant_monthly_credits(platform: Platform, *, now: datetime | None = None) -> int:
    """Give every client on a paid plan its plan's credits for this month, once.

    Keyed by client and month, so running it daily is safe: a missed day is caught up, and a
    client moved to a paid plan mid-month gets that month's credits the next morning. The
    free plan's figure is its sign-up grant (API.md: "3 (at signup)"), not a monthly one.
    """
    month = (now or datetime.now(UTC)).strftime("%Y-%m")
    granted = 0
    after = None
    while True:
        async with platform.db.transaction() as session:
            rows = await PlanRepository(session).paying_clients(after=after, limit=BATCH)
            for client_id, amount in rows:
                key = f"monthly:{client_id}:{month}"
                if await CreditRepository(session).event(key) is not None:
                    continue
                await credits.apply(
                    session,
                    client_id,
                    amount,
                    reason="monthly",
                    key=key,
                    reference=f"plan credits {month}",
                )
                granted += 1
        if len(rows) < BATCH:
            break
        after = rows[-1][0]
    log.info("billing.monthly_credits", month=month, granted=granted)
    return granted


@task("billing.monthly_credits", cron="10 0 * * *", timeout=1800, retries=3)
async def monthly_credits(platform: Platform) -> int:
    """Daily at 00:10 UTC: this month's plan credits for clients that have not had them."""
    return await grant_monthly_credits(platform)
