"""The security audit log: who did what, from where, in which client."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import AuditEvent, Client


async def record(
    session: AsyncSession,
    event: str,
    *,
    client_id: uuid.UUID | None = None,
    actor_user_id: uuid.UUID | None = None,
    actor_label: str | None = None,
    api_key_id: uuid.UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    **data: Any,
) -> AuditEvent:
    if client_id is None and actor_user_id is not None:
        # A user's own security events (sign-ins, resets, exports) belong to the timeline of
        # their personal client, where they can see them.
        client_id = await session.scalar(
            select(Client.id).where(Client.personal_owner_id == actor_user_id)
        )
    entry = AuditEvent(
        event=event,
        client_id=client_id,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        api_key_id=api_key_id,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
        data={k: v for k, v in data.items() if v is not None},
    )
    session.add(entry)
    await session.flush()
    return entry
