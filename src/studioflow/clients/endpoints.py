"""HTTP layer of clients, members, invitations and activity (API.md, "Clients")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from studioflow.clients import service
from studioflow.clients.auth import (
    ActivityReader,
    AnyMember,
    ClientReader,
    ClientUpdater,
    MemberManager,
    MemberReader,
)
from studioflow.clients.schemas import (
    AcceptedOut,
    AcceptIn,
    ActivityOut,
    ClientCreate,
    ClientOut,
    ClientUpdate,
    InvitationOut,
    InviteIn,
    MemberOut,
    MembersOut,
    RoleIn,
)
from studioflow.identity.auth import UserOnly, platform_of
from studioflow.identity.context import context_of
from studioflow.models import Client, Invitation
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import RateLimited, answers
from studioflow.platform.pagination import Page, PageParams, page_params

router = APIRouter(tags=["clients"])


def client_out(client: Client, role: str) -> ClientOut:
    return ClientOut.for_member(client, role)


def invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut.model_validate(invitation)


@router.get("/api/v1/clients", response_model=Page[ClientOut])
async def list_clients(
    principal: UserOnly,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ClientOut]:
    """The clients you belong to, with your role in each (your personal one first)."""
    rows, cursor = await service.page_of_my_clients(session, principal.user_id, params)
    return Page(items=[client_out(c, role) for c, role in rows], next_cursor=cursor)


# Every new workspace starts with credits: without a limit, a script could make workspaces
# for free generations.
TEAMS_PER_DAY = "10/day"


@router.post(
    "/api/v1/clients",
    status_code=201,
    response_model=ClientOut,
    responses=answers({429: "More workspaces than a user may create a day (`rate_limited`)."}),
)
async def create_client(
    body: ClientCreate, principal: UserOnly, request: Request, session: SessionDep
) -> ClientOut:
    """Create a client (a team); you become its owner. A user creates at most
    ``TEAMS_PER_DAY`` a day: each starts with the plan's starting credits."""
    limit = await platform_of(request).limiter.hit(
        TEAMS_PER_DAY, "clients:create", str(principal.user_id)
    )
    if not limit.allowed:
        raise RateLimited(
            "You have created the most workspaces a day allows. Try again tomorrow.",
            retry_after=limit.reset_after,
            headers=dict(limit.headers),
        )
    site = await platform_of(request).site.get()
    client = await service.create_client(
        session, principal, name=body.name, plan=site.default_plan, context=context_of(request)
    )
    return client_out(client, "owner")


@router.get("/api/v1/clients/{client_id}", response_model=ClientOut)
async def get_client(
    client_id: uuid.UUID, principal: ClientReader, session: SessionDep
) -> ClientOut:
    """One of your clients."""
    return client_out(await service.get_client(session, principal), principal.role)


@router.patch("/api/v1/clients/{client_id}", response_model=ClientOut)
async def update_client(
    client_id: uuid.UUID,
    body: ClientUpdate,
    principal: ClientUpdater,
    request: Request,
    session: SessionDep,
) -> ClientOut:
    """Rename a client or change its image settings (owners)."""
    client = await service.get_client(session, principal)
    if body.name is not None:
        client = await service.rename_client(
            session, principal, name=body.name, context=context_of(request)
        )
    if body.images_public_by_default is not None or body.allowed_referrers is not None:
        client = await service.update_settings(
            session,
            principal,
            images_public_by_default=body.images_public_by_default,
            allowed_referrers=body.allowed_referrers,
            context=context_of(request),
        )
    return client_out(client, principal.role)


@router.get("/api/v1/clients/{client_id}/members", response_model=MembersOut)
async def list_members(
    client_id: uuid.UUID, principal: MemberReader, session: SessionDep
) -> MembersOut:
    """Members and (for owners) pending invitations."""
    items = [
        MemberOut(
            user_id=u.id,
            email=u.email,
            role=m.role,
            joined_at=m.created_at,
            name=" ".join(p for p in (u.first_name, u.last_name) if p) or None,
        )
        for m, u in await service.members(session, principal)
    ]
    invitations = (
        [invitation_out(i) for i in await service.pending_invitations(session, principal)]
        if principal.can("members:manage")
        else []
    )
    return MembersOut(items=items, invitations=invitations)


@router.post(
    "/api/v1/clients/{client_id}/members",
    status_code=201,
    response_model=InvitationOut,
    responses=answers(
        {
            409: (
                "Already a member (`already_member`), or a personal workspace takes no "
                "members (`personal_client`)."
            )
        }
    ),
)
async def invite_member(
    client_id: uuid.UUID,
    body: InviteIn,
    principal: MemberManager,
    request: Request,
    session: SessionDep,
) -> InvitationOut:
    """Invite someone by email (a one-time link valid for 7 days)."""
    invitation = await service.invite(
        platform_of(request),
        session,
        principal,
        email=body.email,
        role=body.role,
        context=context_of(request),
    )
    return invitation_out(invitation)


@router.delete("/api/v1/clients/{client_id}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(
    client_id: uuid.UUID, invitation_id: uuid.UUID, principal: MemberManager, session: SessionDep
) -> Response:
    """Withdraw a pending invitation."""
    await service.revoke_invitation(session, principal, invitation_id)
    return Response(status_code=204)


@router.patch(
    "/api/v1/clients/{client_id}/members/{user_id}",
    response_model=MemberOut,
    responses=answers({409: "The workspace would have no owner left (`last_owner`)."}),
)
async def change_role(
    client_id: uuid.UUID,
    user_id: uuid.UUID,
    body: RoleIn,
    principal: MemberManager,
    request: Request,
    session: SessionDep,
) -> MemberOut:
    """Change a member's role (owners; the last owner cannot be demoted)."""
    membership = await service.change_role(
        session, principal, user_id, role=body.role, context=context_of(request)
    )
    for m, u in await service.members(session, principal):
        if m.id == membership.id:
            return MemberOut(
                user_id=u.id,
                email=u.email,
                role=m.role,
                joined_at=m.created_at,
                name=" ".join(p for p in (u.first_name, u.last_name) if p) or None,
            )
    raise AssertionError("membership vanished")  # pragma: no cover


@router.delete(
    "/api/v1/clients/{client_id}/members/{user_id}",
    status_code=204,
    responses=answers(
        {
            409: (
                "The workspace would have no owner left (`last_owner`), or it is "
                "someone's personal workspace (`personal_client`)."
            )
        }
    ),
)
async def remove_member(
    client_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: AnyMember,
    request: Request,
    session: SessionDep,
) -> Response:
    """Remove a member (owners), or leave (yourself). The last owner cannot leave."""
    await service.remove_member(session, principal, user_id, context=context_of(request))
    return Response(status_code=204)


@router.get("/api/v1/clients/{client_id}/activity", response_model=Page[ActivityOut])
async def client_activity(
    client_id: uuid.UUID,
    principal: ActivityReader,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ActivityOut]:
    """The client's security timeline, newest first."""
    events, cursor = await service.activity(session, principal, params)
    return Page(
        items=[ActivityOut.model_validate(e) for e in events],
        next_cursor=cursor,
    )


@router.post(
    "/api/v1/invitations/accept",
    response_model=AcceptedOut,
    responses=answers({400: "The invitation is invalid, used or expired (`invalid_token`)."}),
)
async def accept_invitation(
    body: AcceptIn, principal: UserOnly, request: Request, session: SessionDep
) -> AcceptedOut:
    """Join the client of an invitation sent to your email address."""
    membership = await service.accept_invitation(
        session, principal.user, token=body.token, context=context_of(request)
    )
    return AcceptedOut(client_id=membership.client_id, role=membership.role)


@router.get("/api/v1/roles", response_model=Page[str])
async def list_roles(principal: UserOnly) -> Page[str]:
    """The roles a member of a client can have (a short catalogue: always one page)."""
    from studioflow.identity.permissions import CLIENT_ROLES

    return Page(items=sorted(CLIENT_ROLES), next_cursor=None)
