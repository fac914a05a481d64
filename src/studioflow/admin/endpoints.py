"""Platform-wide listings for administrators (API.md: /api/v1/admin/…)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from studioflow.admin import jobs, service
from studioflow.admin.schemas import (
    AdminClient,
    AdminUser,
    ClientPlanIn,
    JobOut,
    PlanOut,
    PlanUpdate,
    QueuesOut,
)
from studioflow.identity.auth import PlatformAdmin, platform_of
from studioflow.models import Plan
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import answers
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


@router.get("/jobs", response_model=QueuesOut)
async def admin_jobs(principal: PlatformAdmin, request: Request) -> QueuesOut:
    """Each job queue: workers, depth by state, and up to 25 running or waiting jobs (never
    their arguments)."""
    return QueuesOut.model_validate({"queues": await jobs.queues(platform_of(request))})


@router.post(
    "/jobs/{queue}/{job_key}/abort",
    status_code=202,
    response_model=JobOut,
    responses=answers({404: "No such queue or job.", 409: "The job has finished (`conflict`)."}),
)
async def abort_job(
    queue: str, job_key: str, principal: PlatformAdmin, request: Request, session: SessionDep
) -> JobOut:
    """Abort a job that has not finished: a waiting one never runs, a running one is
    cancelled by its worker within seconds. An image-generation slice hands its batch back
    (cancel a run from its own page to stop it)."""
    job = await jobs.abort(platform_of(request), session, principal, queue, job_key)
    return JobOut.model_validate(job)
