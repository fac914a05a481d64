"""The per-endpoint limits of seed 001 (uploads and generations an hour), set by admins in
the platform settings: each counted per user and per address, so neither many keys of one
user nor many users behind one address get past it. 0 turns a limit off."""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from studioflow.identity.auth import Principal, platform_of
from studioflow.identity.context import context_of
from studioflow.platform.errors import RateLimited

Limit = Literal["uploads_per_hour", "generations_per_hour"]

_WHAT = {"uploads_per_hour": "uploads", "generations_per_hour": "generations"}


async def check_hourly(request: Request, principal: Principal, limit: Limit, cost: int = 1) -> None:
    """Count ``cost`` uses; 429 ``rate_limited`` with ``Retry-After`` past the limit."""
    platform = platform_of(request)
    amount = getattr(platform.site.current, limit)
    if amount <= 0 or cost <= 0:
        return
    rate = f"{amount}/hour"
    for who, key in (("user", str(principal.user_id)), ("ip", context_of(request).ip)):
        result = await platform.limiter.hit(rate, limit, who, key, cost=cost)
        if not result.allowed:
            raise RateLimited(
                f"At most {amount} {_WHAT[limit]} an hour are allowed "
                f"{'per user' if who == 'user' else 'from one address'}; try again later.",
                retry_after=result.reset_after,
                headers=dict(result.headers),
            )
