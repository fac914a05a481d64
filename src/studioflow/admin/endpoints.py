"""Platform-wide listings for administrators (API.md: /api/v1/admin/…)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from studioflow.admin import service
from studioflow.identity.auth import PlatformAdmin
from studioflow.models import Plan
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import (
    Page,
    PageParams,
    page_params,
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
    users, cursor = await service.users(session, params)
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
    page, cursor = await service.clients(session, params)
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


class PlanOut(BaseModel):
    name: str
    uploads_per_day: int
    api_requests_per_hour: int
    storage_bytes: int
    bandwidth_bytes_month: int
    monthly_credits: int
    max_upload_bytes: int
    max_pixels: int


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uploads_per_day: int | None = Field(default=None, ge=0)
    api_requests_per_hour: int | None = Field(default=None, ge=0)
    storage_bytes: int | None = Field(default=None, ge=0)
    bandwidth_bytes_month: int | None = Field(default=None, ge=0)
    monthly_credits: int | None = Field(default=None, ge=0)
    max_upload_bytes: int | None = Field(default=None, ge=1024)
    max_pixels: int | None = Field(default=None, ge=1)


class ClientPlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(max_length=40)


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut.model_validate(plan, from_attributes=True)


@router.get("/plans", response_model=Page[PlanOut])
async def admin_plans(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[PlanOut]:
    """The plans and their limits, smallest first."""
    plans, cursor = await service.plans(session, params)
    return Page(items=[plan_out(p) for p in plans], next_cursor=cursor)


@router.patch("/plans/{name}", response_model=PlanOut)
async def admin_update_plan(
    name: str, body: PlanUpdate, principal: PlatformAdmin, session: SessionDep
) -> PlanOut:
    """Change a plan's limits (they apply to its clients at once)."""
    plan = await service.update_plan(session, name, body.model_dump(exclude_unset=True))
    return plan_out(plan)


@router.patch("/clients/{client_id}", response_model=AdminClient)
async def admin_set_client_plan(
    client_id: uuid.UUID, body: ClientPlanIn, principal: PlatformAdmin, session: SessionDep
) -> AdminClient:
    """Move a client to another plan."""
    client, members = await service.move_client(session, client_id, body.plan)
    return AdminClient(
        id=client.id,
        name=client.name,
        plan=client.plan,
        personal=client.personal_owner_id is not None,
        members=members,
        created_at=client.created_at,
    )
