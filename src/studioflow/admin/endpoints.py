"""Platform-wide listings for administrators (API.md: /api/v1/admin/…)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from studioflow.admin import service
from studioflow.admin.schemas import AdminClient, AdminUser, ClientPlanIn, PlanOut, PlanUpdate
from studioflow.identity.auth import PlatformAdmin
from studioflow.models import Plan
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import (
    Page,
    PageParams,
    page_params,
)

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/users", response_model=Page[AdminUser])
async def admin_users(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[AdminUser]:
    """Every account, newest first."""
    users, cursor = await service.users(session, params)
    return Page(
        items=[AdminUser.model_validate(u) for u in users],
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
        items=[AdminClient.with_members(c, n) for c, n in page],
        next_cursor=cursor,
    )


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut.model_validate(plan)


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
    return AdminClient.with_members(client, members)
