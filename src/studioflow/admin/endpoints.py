"""Platform-wide listings for administrators (API.md: /api/v1/admin/…)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import func, select

from studioflow.identity.auth import PlatformAdmin
from studioflow.models import Client, Membership, User
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import (
    Page,
    PageParams,
    build_page,
    page_params,
    paginate_newest_first,
)

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class AdminUser(BaseModel):
    id: uuid.UUID
    email: str
    username: str | None
    platform_role: str
    email_verified: bool
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    delete_after: datetime | None


class AdminClient(BaseModel):
    id: uuid.UUID
    name: str
    plan: str
    personal: bool
    members: int
    created_at: datetime


@router.get("/users", response_model=Page[AdminUser])
async def admin_users(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[AdminUser]:
    """Every account, newest first."""
    rows = list((await session.scalars(paginate_newest_first(select(User), User.id, params))).all())
    users, cursor = build_page(rows, params, key=lambda u: u.id)
    return Page(
        items=[
            AdminUser(
                id=u.id,
                email=u.email,
                username=u.username,
                platform_role=u.platform_role,
                email_verified=u.email_verified_at is not None,
                is_active=u.is_active,
                created_at=u.created_at,
                last_login_at=u.last_login_at,
                delete_after=u.delete_after,
            )
            for u in users
        ],
        next_cursor=cursor,
    )


@router.get("/clients", response_model=Page[AdminClient])
async def admin_clients(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[AdminClient]:
    """Every client with its member count, newest first."""
    counts = (
        select(Membership.client_id, func.count().label("members"))
        .group_by(Membership.client_id)
        .subquery()
    )
    statement = paginate_newest_first(
        select(Client, func.coalesce(counts.c.members, 0)).outerjoin(
            counts, counts.c.client_id == Client.id
        ),
        Client.id,
        params,
    )
    rows = list((await session.execute(statement)).all())
    page, cursor = build_page(rows, params, key=lambda row: row[0].id)
    return Page(
        items=[
            AdminClient(
                id=c.id,
                name=c.name,
                plan=c.plan,
                personal=c.personal_owner_id is not None,
                members=int(n),
                created_at=c.created_at,
            )
            for c, n in page
        ],
        next_cursor=cursor,
    )
