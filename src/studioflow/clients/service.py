"""Clients, their members and invitations. Every function is scoped to the principal's
client; the caller has already been authorised for the permission the endpoint names."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.clients.repository import (
    ActivityRepository,
    ClientRepository,
    InvitationRepository,
    MembershipRepository,
)
from studioflow.identity import audit
from studioflow.identity.auth import Principal, UserInfo
from studioflow.identity.context import Context
from studioflow.identity.emails import InvalidEmail, canonical_email, normalise_email
from studioflow.identity.permissions import CLIENT_ROLES, OWNER
from studioflow.identity.tokens import random_token, sha256
from studioflow.models import AuditEvent, Client, Invitation, Membership, User
from studioflow.platform.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from studioflow.platform.mail import build_message
from studioflow.platform.pagination import (
    PageParams,
)
from studioflow.platform.repository import Scope
from studioflow.platform.runtime import Platform
from studioflow.platform.tasks import send_mail_later

INVITATION_TTL = timedelta(days=7)


def _now() -> datetime:
    return datetime.now(UTC)


async def my_clients(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Client, str]]:
    return await MembershipRepository(session).clients_of(user_id)


async def page_of_my_clients(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams
) -> tuple[list[tuple[Client, str]], str | None]:
    return await MembershipRepository(session).page_of_clients(user_id, params)


async def create_client(
    session: AsyncSession, principal: Principal, *, name: str, plan: str, context: Context
) -> Client:
    client = Client(name=name, plan=plan)
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
    client = await ClientRepository(session).get(principal.client_id)
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


async def members(session: AsyncSession, scope: Scope) -> list[tuple[Membership, User]]:
    """The scope's client's members and their accounts, oldest membership first."""
    return await MembershipRepository(session).with_users(scope)


async def pending_invitations(session: AsyncSession, principal: Principal) -> list[Invitation]:
    return await InvitationRepository(session).pending(principal, _now())


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
    already = await MembershipRepository(session).by_address(client.id, canonical_email(address))
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
        text=f"{principal.user.email} invited you to the workspace {client.name} on Studioflow "
        f"as {role}.\n\nAccept within 7 days. No account yet? The link lets you create one with "
        f"this address, and you join when you are in:\n{link}\n",
    )
    send_mail_later(platform, session, message)
    return invitation


async def revoke_invitation(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID
) -> None:
    invitation = await InvitationRepository(session).get_readable(principal, invitation_id)
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = _now()


async def accept_invitation(
    session: AsyncSession, user: User | UserInfo, *, token: str, context: Context
) -> Membership:
    invalid = BadRequest("This invitation is invalid, used or expired.", code="invalid_token")
    invitation = await InvitationRepository(session).by_token_hash(sha256(token))
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
    existing = await MembershipRepository(session).of_user(invitation.client_id, user.id)
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
    membership = await MembershipRepository(session).of_user(client_id, user_id, lock=True)
    if membership is None:
        raise NotFound("No such member.")
    return membership


async def _owners(session: AsyncSession, client_id: uuid.UUID) -> int:
    return await MembershipRepository(session).count_role(client_id, OWNER)


async def change_role(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    role: str,
    context: Context,
    client_id: uuid.UUID | None = None,
) -> Membership:
    """Change a member's role in the principal's client, or with ``client_id`` in that
    client (a platform admin's console; the caller has checked the platform role)."""
    _check_role(role)
    client_id = client_id or principal.client_id
    membership = await _membership(session, client_id, user_id)
    if membership.role == role:
        return membership
    if membership.role == OWNER and await _owners(session, client_id) == 1:
        raise Conflict(
            "A client needs at least one owner. Make someone else an owner first.",
            code="last_owner",
        )
    await audit.by_principal(
        session,
        "member.role_changed",
        principal,
        context,
        client_id=client_id,
        member=str(user_id),
        email=await _address(session, user_id),
        old=membership.role,
        new=role,
        role=role,
    )
    membership.role = role
    await session.flush()
    return membership


async def remove_member(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    context: Context,
    client_id: uuid.UUID | None = None,
) -> None:
    """Remove a member (or leave) in the principal's client, or with ``client_id`` in that
    client (a platform admin's console; the caller has checked the platform role)."""
    leaving = user_id == principal.user_id and client_id is None
    if client_id is None and not leaving and not principal.can("members:manage"):
        raise Forbidden("This needs the 'members:manage' permission.")
    client_id = client_id or principal.client_id
    membership = await _membership(session, client_id, user_id)
    client = await _client(session, client_id)
    if client.personal_owner_id == user_id:
        raise Conflict("Nobody can leave their personal workspace.", code="personal_client")
    if membership.role == OWNER and await _owners(session, client_id) == 1:
        raise Conflict(
            "The last owner cannot leave. Make someone else an owner first.", code="last_owner"
        )
    memberships = MembershipRepository(session)
    await memberships.delete(membership)
    # Their keys in this client would fail anyway (a key needs its creator's membership);
    # revoking them makes that visible in the key list too.
    await memberships.revoke_keys_of(client_id, user_id, _now())
    await audit.by_principal(
        session,
        "member.left" if leaving else "member.removed",
        principal,
        context,
        client_id=client_id,
        member=str(user_id),
        email=await _address(session, user_id),
    )
    await session.flush()


async def activity(
    session: AsyncSession, scope: Scope, params: PageParams
) -> tuple[list[AuditEvent], str | None]:
    """The scope's client's audit timeline, newest first."""
    return await ActivityRepository(session).page(scope, params)


async def add_member(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    user: User,
    *,
    role: str,
    context: Context,
) -> Membership:
    """Put an existing account in a team client directly, without an invitation (a platform
    admin's console; the caller has checked the platform role). 409 ``already_member``, or
    ``personal_client`` for someone's personal workspace."""
    _check_role(role)
    client = await _client(session, client_id)
    if client.personal_owner_id is not None:
        raise Conflict("A personal workspace has no other members.", code="personal_client")
    if await MembershipRepository(session).of_user(client_id, user.id) is not None:
        raise Conflict("This person is already a member.", code="already_member")
    membership = Membership(client_id=client_id, user_id=user.id, role=role)
    session.add(membership)
    await session.flush()
    await audit.by_principal(
        session,
        "member.added",
        principal,
        context,
        client_id=client_id,
        member=str(user.id),
        email=user.email,
        role=role,
    )
    return membership


async def _address(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """A member's email address for the timeline's sentence ("Ona removed leo@…")."""
    user = await session.get(User, user_id)
    return user.email if user is not None else None


async def _client(session: AsyncSession, client_id: uuid.UUID) -> Client:
    client = await ClientRepository(session).get(client_id)
    if client is None:
        raise NotFound("No such client.")
    return client
