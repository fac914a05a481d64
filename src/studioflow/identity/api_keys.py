"""API keys: shown once, stored as SHA-256, scoped within their creator's permissions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.identity.repository import ApiKeyRepository
from studioflow.identity.tokens import api_key_display_prefix, new_api_key, sha256
from studioflow.models import ApiKey
from studioflow.platform.errors import Forbidden, NotFound, Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.platform.streams import EventStream

USES_BATCH = 5_000

# The free plan's hourly API requests (API.md); plans and their limits are per client once
# the billing feature reads them from the plans table.
DEFAULT_RATE_LIMIT_PER_HOUR = 1000


async def create_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    scopes: list[str] | None,
    rate_limit_per_hour: int | None,
    expires_at: datetime | None,
    context: Context,
) -> tuple[ApiKey, str]:
    if principal.api_key is not None:
        raise Forbidden("An API key cannot create API keys; sign in as the user.")
    grantable = principal.permissions - {"platform:admin"}
    wanted = set(scopes) if scopes is not None else set(grantable)
    beyond = sorted(wanted - grantable)
    if beyond:
        # A key can only narrow what its creator may do in this client.
        raise Forbidden(
            f"You cannot grant what you do not have: {', '.join(beyond)}.", code="scope_escalation"
        )
    if not wanted:
        raise Unprocessable("Give the key at least one scope.", code="scopes_required")
    limit = rate_limit_per_hour or DEFAULT_RATE_LIMIT_PER_HOUR
    if limit > DEFAULT_RATE_LIMIT_PER_HOUR:
        raise Forbidden(
            f"The plan allows at most {DEFAULT_RATE_LIMIT_PER_HOUR} requests per hour.",
            code="scope_escalation",
        )
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= datetime.now(UTC)):
        raise Unprocessable("expires_at must be a future time with a UTC offset.")
    secret = new_api_key()
    key = ApiKey(
        client_id=principal.client_id,
        user_id=principal.user_id,
        name=name,
        key_hash=sha256(secret),
        prefix=api_key_display_prefix(secret),
        scopes=sorted(wanted),
        rate_limit_per_hour=limit,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    await audit.by_principal(
        session,
        "api_key.created",
        principal,
        context,
        key_id=str(key.id),
        key_name=name,
        scopes=key.scopes,
    )
    return key, secret


async def list_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    return await ApiKeyRepository(session).listed(
        principal, everyone=principal.can("members:manage")
    )


async def page_of_keys(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[ApiKey], str | None]:
    return await ApiKeyRepository(session).page(
        principal, params, everyone=principal.can("members:manage")
    )


async def revoke_key(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, *, context: Context
) -> None:
    key = await ApiKeyRepository(session).get_readable(principal, key_id)
    if key is None or (key.user_id != principal.user_id and not principal.can("members:manage")):
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await audit.by_principal(
            session,
            "api_key.revoked",
            principal,
            context,
            key_id=str(key.id),
        )


async def flush_uses(platform: Any, *, limit: int = 100_000) -> int:
    """Write the buffered uses of API keys (``requests_count``, ``last_used_at``) in batches:
    one UPDATE per key and batch. At least once, like the view events: a crash between the
    commit and the acknowledgement counts that batch twice, never loses it."""
    stream: EventStream = platform.key_uses
    written = 0
    while written < limit:
        events, token = await stream.drain(USES_BATCH)
        if not events:
            await stream.acknowledge(token)
            break
        per_key: dict[uuid.UUID, tuple[int, datetime]] = {}
        for event in events:
            key_id, at = uuid.UUID(event["key_id"]), datetime.fromisoformat(event["at"])
            count, last = per_key.get(key_id, (0, at))
            per_key[key_id] = (count + 1, max(last, at))
        async with platform.db.transaction() as session:
            keys = ApiKeyRepository(session)
            for key_id, (count, last) in per_key.items():
                await keys.count_uses(key_id, count, last)
        await stream.acknowledge(token)
        written += len(events)
    return written
