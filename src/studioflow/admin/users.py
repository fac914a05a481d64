"""Platform admins and accounts: find, invite, edit, promote or demote, block or unblock,
delete (after the 7-day grace, or at once), and one account's whole picture (workspaces,
sessions, keys). Callers have been authorised as platform admins.

An admin cannot block, demote or delete themself, nor the last active admin (409): the
platform must always keep someone who can undo a mistake. Every change is an audit entry
on the acting admin's timeline, naming the account it touched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.admin.repository import AdminRepository
from studioflow.identity import audit, lifecycle
from studioflow.identity import service as identity
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.models import ApiKey, AuthSession, Client, PlatformRole, User
from studioflow.platform.errors import Conflict, NotFound
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform

EDITABLE = ("first_name", "last_name", "username", "platform_role", "is_active")


@dataclass(frozen=True)
class UserPicture:
    """One account as the console shows it."""

    user: User
    memberships: list[tuple[Client, str]]
    sessions: list[AuthSession]
    api_keys: list[ApiKey]


async def search(
    session: AsyncSession, params: PageParams, query: str | None
) -> tuple[list[User], str | None]:
    return await AdminRepository(session).users(params, search=(query or "").strip()[:100] or None)


async def get(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await AdminRepository(session).user(user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def picture(session: AsyncSession, user_id: uuid.UUID) -> UserPicture:
    user = await get(session, user_id)
    return UserPicture(
        user=user,
        memberships=await identity.memberships_of(session, user.id),
        sessions=await identity.active_sessions(session, user.id),
        api_keys=await identity.api_keys_of_user(session, user.id),
    )


async def invite(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    context: Context,
    fields: dict[str, Any],
) -> User:
    user = await identity.invite_user(
        platform,
        session,
        email=fields["email"],
        username=fields.get("username"),
        first_name=fields.get("first_name"),
        last_name=fields.get("last_name"),
        platform_role=fields.get("platform_role") or PlatformRole.user.value,
        invited_by=principal.user.email,
    )
    await audit.by_principal(
        session,
        "admin.user_invited",
        principal,
        context,
        user_id=str(user.id),
        email=user.email,
        platform_role=user.platform_role,
    )
    return user


async def _locked(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> tuple[User, int]:
    """The account to change and how many active admins there are, with every admin's row
    and then its row locked (in that order for every change, so two admins changing each
    other take turns instead of deadlocking). 409 when the acting admin lost that role a
    moment ago."""
    admins = AdminRepository(session)
    remaining = await admins.active_admins()
    acting = await admins.locked_user(principal.user_id)
    if acting is None or acting.platform_role != PlatformRole.admin or not acting.is_active:
        raise Conflict("You are no longer a platform admin.", code="last_admin")
    user = await admins.locked_user(user_id)
    if user is None:
        raise NotFound("No such user.")
    return user, remaining


def _guard_admins(principal: Principal, user: User, remaining: int, *, what: str) -> None:
    """Refuse to take away the acting admin's own access, or the platform's last admin."""
    if user.id == principal.user_id:
        raise Conflict(f"You cannot {what} your own account.", code="self_change")
    if user.platform_role == PlatformRole.admin and user.is_active and remaining <= 1:
        raise Conflict(f"You cannot {what} the last platform admin.", code="last_admin")


async def update(
    session: AsyncSession,
    principal: Principal,
    context: Context,
    user_id: uuid.UUID,
    changes: dict[str, Any],
) -> User:
    """Edit a profile, the platform role and blocking (``is_active: false``: sessions end
    at once, keys are refused while blocked, sign-in answers 403 ``account_blocked``)."""
    user, remaining = await _locked(session, principal, user_id)
    changes = {k: v for k, v in changes.items() if k in EDITABLE}
    demoting = changes.get("platform_role") not in (None, user.platform_role) and (
        changes["platform_role"] != PlatformRole.admin
    )
    blocking = changes.get("is_active") is False and user.is_active
    if demoting or blocking:
        _guard_admins(principal, user, remaining, what="block" if blocking else "demote")
    username = changes.get("username")
    taken = username and username != user.username
    if taken and await identity.username_taken(session, str(username)):
        raise Conflict("This username is taken.", code="username_taken")
    before = {field: getattr(user, field) for field in changes}
    for field in ("first_name", "last_name", "username"):
        if field in changes:
            setattr(user, field, changes[field] or None)  # "" clears it
    if changes.get("platform_role") is not None:
        user.platform_role = changes["platform_role"]
    if changes.get("is_active") is not None and changes["is_active"] != user.is_active:
        await identity.set_blocked(session, user, not changes["is_active"])
    await session.flush()
    changed = {f: getattr(user, f) for f in changes if getattr(user, f) != before[f]}
    if changed:
        event = "admin.user_updated"
        if set(changed) == {"is_active"}:
            event = "admin.user_unblocked" if user.is_active else "admin.user_blocked"
        await audit.by_principal(
            session,
            event,
            principal,
            context,
            user_id=str(user.id),
            email=user.email,
            changed=sorted(changed),
        )
    return user


async def delete(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    context: Context,
    user_id: uuid.UUID,
    *,
    now: bool,
) -> datetime | None:
    """Start the 7-day deletion (the account's owner is emailed how to stop it), or delete
    at once with ``now``. The date it will go, or None when it is gone."""
    user, remaining = await _locked(session, principal, user_id)
    _guard_admins(principal, user, remaining, what="delete")
    email = user.email
    when = await identity.schedule_deletion_by_admin(platform, session, user, now=now)
    if now:
        await lifecycle.delete_account(platform, session, user_id)
    await audit.by_principal(
        session,
        "admin.user_deleted" if now else "admin.user_deletion_started",
        principal,
        context,
        user_id=str(user_id),
        email=email,
        delete_after=None if now else when.isoformat(),
    )
    return None if now else when
