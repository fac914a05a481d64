"""The security audit log: who did what, from where, in which client."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.repository import UserRepository
from studioflow.models import AuditEvent


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
        client_id = await UserRepository(session).personal_client_id(actor_user_id)
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


class Origin(Protocol):
    """Where a request came from (``identity.service.Context``)."""

    @property
    def ip(self) -> str: ...

    @property
    def user_agent(self) -> str | None: ...


class Person(Protocol):
    """A user row or the snapshot a principal carries (``identity.auth.UserInfo``)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def email(self) -> str: ...


class Actor(Protocol):
    """Who acted through the API (``identity.auth.Principal``)."""

    @property
    def client_id(self) -> uuid.UUID: ...

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def user(self) -> Person: ...

    @property
    def api_key_id(self) -> uuid.UUID | None: ...


async def by_user(
    session: AsyncSession,
    event: str,
    user: Person | None,
    origin: Origin,
    *,
    client_id: uuid.UUID | None = None,
    **data: Any,
) -> AuditEvent:
    """An event a user caused from ``origin`` (signing in, verifying, joining …); an unknown
    user (a failed sign-in) is recorded without an actor."""
    return await record(
        session,
        event,
        client_id=client_id,
        actor_user_id=user.id if user else None,
        actor_label=user.email if user else None,
        ip=origin.ip,
        user_agent=origin.user_agent,
        **data,
    )


async def by_principal(
    session: AsyncSession,
    event: str,
    principal: Actor,
    origin: Origin,
    *,
    client_id: uuid.UUID | None = None,
    **data: Any,
) -> AuditEvent:
    """An event done through the API, in the principal's client unless ``client_id`` says
    otherwise; the API key is named when one was used."""
    return await record(
        session,
        event,
        client_id=client_id or principal.client_id,
        actor_user_id=principal.user_id,
        actor_label=principal.user.email,
        api_key_id=principal.api_key_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        **data,
    )
