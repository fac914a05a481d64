"""Payments' background work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from studioflow.payments import service, stripe_api
from studioflow.platform.jobs import task
from studioflow.platform.runtime import Platform


@task("payments.send_refund", timeout=60, retries=8, retry_backoff=300.0)
async def send_refund(platform: Platform, refund_id: str) -> bool:
    """Tell Stripe of a refund recorded in a transaction (retried while Stripe is busy)."""
    return await service.send_refund(platform, uuid.UUID(refund_id))


@task("payments.sweep_refunds", cron="*/5 * * * *", timeout=300, retries=1)
async def sweep_refunds(platform: Platform) -> int:
    """Every 5 minutes: refunds still pending (a lost job, a crash before it ran) are sent."""
    due = await service.pending_refunds(platform, datetime.now(UTC) - timedelta(minutes=2))
    sent = 0
    for refund_id in due:
        try:
            sent += await service.send_refund(platform, refund_id)
        except stripe_api.ProviderError:
            break  # Stripe is busy: the next sweep goes on
    return sent
