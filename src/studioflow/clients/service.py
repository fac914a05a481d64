"""Clients, their members and invitations. Every function is scoped to the principal's
client; the caller has already been authorised for the permission the endpoint names."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import Principal, UserInfo
from studioflow.identity.context import Context
from studioflow.identity.emails import InvalidEmail, canonical_email, normalise_email
from studioflow.identity.permissions import CLIENT_ROLES, OWNER
from studioflow.identity.tokens import random_token, sha256
from studioflow.models import ApiKey, AuditEvent, Client, Invitation, Membership, User
from studioflow.platform.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from studioflow.platform.mail import build_message
from studioflow.platform.pagination import (
    PageParams,
    build_page,
    keyset_page,
    paginate_by,
    paginate_newest_first,
)
from studioflow.platform.runtime import Platform
from studioflow.platform.tasks import send_mail_later

INVITATION_TTL = timedelta(days=7)


def _now() -> datetime:
    return datetime.now(UTC)


async def my_clients(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Client, str]]:
    rows = await session.execute(
        select(Client, Membership.role)
        .join(Membership, Membership.client_id == Client.id)
        .where(Membership.user_id == user_id)
        .order_by(Client.personal_owner_id.is_(None), Client.name)
    )
    return [(client, role) for client, role in rows]


async def page_of_my_clients(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams
) -> tuple[list[tuple[Client, str]], str | None]:
    statement = (
        select(Client, Membership.role)
        .join(Membership, Membership.client_id == Client.id)
        .where(Membership.user_id == user_id)
    )
    order = [Client.personal_owner_id.is_(None), Client.name, Client.id]
    rows = list((await session.execute(paginate_by(statement, order, params))).all())
    page, cursor = keyset_page(
        rows, params, key=lambda row: (row[0].personal_owner_id is None, row[0].name, row[0].id)
    )
    return [(client, role) for client, role in page], cursor


async def create_client(
    session: AsyncSession, principal: Principal, *, name: str, context: Context
) -> Client:
    client = Client(name=name)
    session.add(client)
    await session.flush()
    session.add(Membership(client_id=client.id, user_id=principal.user_id, role=OWNER))
    await audit.by_principal(
        session,
        "client.created",
        principal,
        context,
        client_id=client.id,
        name=name,
    )
    await session.flush()
    return client


async def get_client(session: AsyncSession, principal: Principal) -> Client:
    client = await session.get(Client, principal.client_id)
    if client is None:  # pragma: no cover - the principal's membership proves it exists
        raise NotFound("No such client.")
    return client


async def rename_client(
    session: AsyncSession, principal: Principal, *, name: str, context: Context
) -> Client:
    client = await get_client(session, principal)
    if client.name != name:
        await audit.by_principal(
            session,
            "client.renamed",
            principal,
            context,
            client_id=client.id,
            old=client.name,
            new=name,
        )
        client.name = name
    await session.flush()
    return client


_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$"
)


async def update_settings(
    session: AsyncSession,
    principal: Principal,
    *,
    images_public_by_default: bool | None,
    allowed_referrers: list[str] | None,
    context: Context,
) -> Client:
    client = await get_client(session, principal)
    settings = dict(client.settings)
    if images_public_by_default is not None:
        settings["images_public_by_default"] = images_public_by_default
    if allowed_referrers is not None:
        domains = sorted({d.strip().lower().rstrip(".") for d in allowed_referrers if d.strip()})
        bad = [d for d in domains if not _DOMAIN.match(d)]
        if bad:
            raise Unprocessable(
                f"Not a domain name: {', '.join(bad)} (use example.com or *.example.com)."
            )
        settings["allowed_referrers"] = domains
    client.settings = settings  # a new dict, so the JSON column is marked changed
    await audit.by_principal(
        session,
        "client.settings_changed",
        principal,
        context,
        client_id=client.id,
    )
    await session.flush()
    return client


async def members(session: AsyncSession, principal: Principal) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.client_id == principal.client_id)
        .order_by(Membership.created_at)
    )
    return [(m, u) for m, u in rows]


async def pending_invitations(session: AsyncSession, principal: Principal) -> list[Invitation]:
    rows = await session.scalars(
        select(Invitation).where(
            Invitation.client_id == principal.client_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > _now(),
        )
    )
    return list(rows.all())


def _check_role(role: str) -> str:
    if role not in CLIENT_ROLES:
        raise Unprocessable(f"Role must be one of: {', '.join(sorted(CLIENT_ROLES))}.")
    return role


async def invite(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    role: str,
    context: Context,
) -> Invitation:
    _check_role(role)
    client = await get_client(session, principal)
    if client.personal_owner_id is not None:
        raise Conflict(
            "A personal workspace has no other members. Create a team client to invite people.",
            code="personal_client",
        )
    try:
        address = normalise_email(email)
    except InvalidEmail as error:
        raise Unprocessable(f"Enter a valid email address ({error}).") from None
    already = await session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.client_id == client.id, User.email_canonical == canonical_email(address))
    )
    if already is not None:
        raise Conflict("This person is already a member.", code="already_member")
    token = random_token(32)
    invitation = Invitation(
        client_id=client.id,
        email=address,
        role=role,
        token_hash=sha256(token),
        invited_by=principal.user_id,
        expires_at=_now() + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    await audit.by_principal(
        session,
        "member.invited",
        principal,
        context,
        client_id=client.id,
        email=address,
        role=role,
    )
    link = f"{platform.settings.base_url}/invitations/accept?token={token}"
    message = build_message(
        sender=platform.settings.mail_from,
        to=address,
        subject=f"Join {client.name} on Studioflow",
        text=f"{principal.user.email} invited you to {client.name} on Studioflow as {role}.\n\n"
        f"Accept within 7 days (sign up first with this address if you have no account):\n{link}\n",
    )
    send_mail_later(platform, session, message)
    return invitation


async def revoke_invitation(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID
) -> None:
    invitation = await session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.client_id == principal.client_id
        )
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = _now()


async def accept_invitation(
    session: AsyncSession, user: User | UserInfo, *, token: str, context: Context
) -> Membership:
    invalid = BadRequest("This invitation is invalid, used or expired.", code="invalid_token")
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == sha256(token)).with_for_update()
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= _now()
    ):
        raise invalid
    # Bound to the invited address: a forwarded link does not let someone else in.
    if canonical_email(invitation.email) != user.email_canonical:
        raise Forbidden("This invitation was sent to another email address.", code="wrong_account")
    existing = await session.scalar(
        select(Membership).where(
            Membership.client_id == invitation.client_id, Membership.user_id == user.id
        )
    )
    invitation.accepted_at = _now()
    if existing is not None:
        return existing
    membership = Membership(client_id=invitation.client_id, user_id=user.id, role=invitation.role)
    session.add(membership)
    await audit.by_user(
        session,
        "member.joined",
        user,
        context,
        client_id=invitation.client_id,
        role=invitation.role,
    )
    await session.flush()
    return membership


async def _membership(
    session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID
) -> Membership:
    membership = await session.scalar(
        select(Membership)
        .where(Membership.client_id == client_id, Membership.user_id == user_id)
        .with_for_update()
    )
    if membership is None:
        raise NotFound("No such member.")
    return membership


async def _owners(session: AsyncSession, client_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.client_id == client_id, Membership.role == OWNER)
    )
    return int(count or 0)


async def change_role(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, *, role: str, context: Context
) -> Membership:
    _check_role(role)
    membership = await _membership(session, principal.client_id, user_id)
    if membership.role == role:
        return membership
    if membership.role == OWNER and await _owners(session, principal.client_id) == 1:
        raise Conflict(
            "A client needs at least one owner. Make someone else an owner first.",
            code="last_owner",
        )
    await audit.by_principal(
        session,
        "member.role_changed",
        principal,
        context,
        member=str(user_id),
        old=membership.role,
        new=role,
    )
    membership.role = role
    await session.flush()
    return membership


async def remove_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, *, context: Context
) -> None:
    leaving = user_id == principal.user_id
    if not leaving and not principal.can("members:manage"):
        raise Forbidden("This needs the 'members:manage' permission.")
    membership = await _membership(session, principal.client_id, user_id)
    client = await get_client(session, principal)
    if client.personal_owner_id == user_id:
        raise Conflict("Nobody can leave their personal workspace.", code="personal_client")
    if membership.role == OWNER and await _owners(session, principal.client_id) == 1:
        raise Conflict(
            "The last owner cannot leave. Make someone else an owner first.", code="last_owner"
        )
    await session.delete(membership)
    # Their keys in this client would fail anyway (a key needs its creator's membership);
    # revoking them makes that visible in the key list too.
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.client_id == principal.client_id,
            ApiKey.user_id == user_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=_now())
    )
    await audit.by_principal(
        session,
        "member.left" if leaving else "member.removed",
        principal,
        context,
        member=str(user_id),
    )
    await session.flush()


async def activity(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[AuditEvent], str | None]:
    statement = paginate_newest_first(
        select(AuditEvent).where(AuditEvent.client_id == principal.client_id), AuditEvent.id, params
    )
    rows = list((await session.scalars(statement)).all())
    return build_page(rows, params, key=lambda e: e.id)
