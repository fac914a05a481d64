"""The shop's background work."""

from __future__ import annotations

from studioflow.platform.jobs import task
from studioflow.platform.runtime import Platform
from studioflow.shop import orders


@task("shop.expire_unpaid", cron="* * * * *", timeout=120, retries=2)
async def expire_unpaid(platform: Platform) -> int:
    """Every minute: orders not paid in time are cancelled and their stock given back
    (each once: the status change decides, however many workers run it)."""
    return await orders.expire(platform)
