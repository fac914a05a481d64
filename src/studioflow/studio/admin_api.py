"""Platform admins and the studio: templates, assigning workflows, reviewing workflow
requests. (The job queues are the console's: ``admin/jobs.py``.)"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from studioflow.identity import audit
from studioflow.identity.auth import PlatformAdmin
from studioflow.identity.context import context_of
from studioflow.models import WorkflowRequest, WorkflowTemplate
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import Unprocessable, answers
from studioflow.platform.pagination import (
    Page,
    PageParams,
    page_params,
)
from studioflow.studio import admin, service
from studioflow.studio.auth import WorkflowReader
from studioflow.studio.providers import PROVIDER_NAMES
from studioflow.studio.schemas import (
    AssignedOut,
    AssignIn,
    ReviewIn,
    TemplateIn,
    TemplateOut,
    TemplatePatch,
    WorkflowRequestIn,
    WorkflowRequestOut,
)

router = APIRouter(tags=["studio"])


# --- templates ---------------------------------------------------------------------------


def _check_provider(provider: str | None, config: dict[str, Any] | None) -> None:
    from studioflow.studio.providers import aspect_ratios_of

    if provider is not None and provider not in PROVIDER_NAMES:
        raise Unprocessable(
            f"Unknown provider {provider!r} (known: {', '.join(PROVIDER_NAMES)}).",
            code="unknown_provider",
        )
    if (
        config
        and provider
        and config.get("aspect_ratio") not in (None, *aspect_ratios_of(provider))
    ):
        raise Unprocessable("That aspect ratio is not offered.", code="invalid_aspect_ratio")


def _template_out(template: WorkflowTemplate, count: int) -> TemplateOut:
    return TemplateOut.with_usage(template, count)


@router.get("/api/v1/admin/workflow-templates", response_model=Page[TemplateOut])
async def list_templates(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[TemplateOut]:
    """Every workflow template, by name."""
    rows, cursor = await admin.templates(session, params)
    return Page(items=[_template_out(t, n) for t, n in rows], next_cursor=cursor)


@router.post(
    "/api/v1/admin/workflow-templates",
    response_model=TemplateOut,
    status_code=201,
    responses=answers({409: "A template has that name (`conflict`)."}),
)
async def create_template(
    body: TemplateIn, principal: PlatformAdmin, request: Request, session: SessionDep
) -> TemplateOut:
    """A new template; with ``auto_assign`` every client gets it on its next visit."""
    _check_provider(body.provider, body.default_config)
    template = await admin.create_template(session, body.model_dump())
    await audit.by_principal(
        session,
        "admin.template_created",
        principal,
        context_of(request),
        template=str(template.id),
        name=template.name,
    )
    return _template_out(template, 0)


@router.patch(
    "/api/v1/admin/workflow-templates/{template_id}",
    response_model=TemplateOut,
    responses=answers({409: "Another template has that name (`conflict`)."}),
)
async def update_template(
    template_id: uuid.UUID,
    body: TemplatePatch,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> TemplateOut:
    """Change a template; running executions keep the price and provider they started with."""
    template = await admin.template(session, template_id)
    changes = body.model_dump(exclude_unset=True)
    _check_provider(
        changes.get("provider", template.provider),
        changes.get("default_config", template.default_config),
    )
    template = await admin.update_template(session, template, changes)
    await audit.by_principal(
        session,
        "admin.template_changed",
        principal,
        context_of(request),
        template=str(template.id),
        name=template.name,
        fields=sorted(changes),
        is_active=template.is_active,
    )
    return _template_out(template, await admin.usage(session, template))


@router.post(
    "/api/v1/admin/clients/{client_id}/workflows", response_model=AssignedOut, status_code=201
)
async def assign_to_client(
    client_id: uuid.UUID,
    body: AssignIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> AssignedOut:
    """Give a client a workflow made from a template (with its own config overrides)."""
    template = await admin.template(session, body.template_id)
    _check_provider(template.provider, body.config_overrides)
    workflow, template = await admin.assign(
        session, client_id, body.template_id, body.name, body.config_overrides
    )
    await audit.by_principal(
        session,
        "admin.workflow_assigned",
        principal,
        context_of(request),
        client_id=client_id,  # on the workspace's own timeline
        workflow=str(workflow.id),
        template=template.name,
    )
    return AssignedOut(
        id=workflow.id, client_id=client_id, template_id=template.id, name=workflow.name
    )


# --- workflow requests -------------------------------------------------------------------


def request_out(row: WorkflowRequest) -> WorkflowRequestOut:
    return WorkflowRequestOut.model_validate(row)


@router.get("/api/v1/workflow-requests", response_model=Page[WorkflowRequestOut])
async def list_requests(
    principal: WorkflowReader,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[WorkflowRequestOut]:
    """The active client's workflow requests, newest first."""
    items, cursor = await service.page_of_requests(session, principal, params)
    return Page(items=[request_out(r) for r in items], next_cursor=cursor)


@router.post("/api/v1/workflow-requests", response_model=WorkflowRequestOut, status_code=201)
async def create_request(
    body: WorkflowRequestIn, principal: WorkflowReader, session: SessionDep
) -> WorkflowRequestOut:
    """Ask the platform for a new workflow; an admin approves or declines it."""
    row = await service.create_request(
        session, principal, title=body.title.strip(), description=body.description.strip()
    )
    return request_out(row)


@router.get("/api/v1/admin/workflow-requests", response_model=Page[WorkflowRequestOut])
async def admin_requests(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[str | None, Query(pattern="^(pending|approved|declined)$")] = None,
) -> Page[WorkflowRequestOut]:
    """Every client's requests, newest first; ``?status=pending`` for the review queue."""
    items, cursor = await admin.requests(session, params, status)
    return Page(items=[request_out(r) for r in items], next_cursor=cursor)


@router.post(
    "/api/v1/admin/workflow-requests/{request_id}/review",
    response_model=WorkflowRequestOut,
    responses=answers({409: "The request was already reviewed (`conflict`)."}),
)
async def review_request(
    request_id: uuid.UUID,
    body: ReviewIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> WorkflowRequestOut:
    """Approve (optionally assigning a template's workflow to the client) or decline."""
    row = await admin.review(
        session,
        request_id,
        approve=body.decision == "approve",
        note=body.note,
        template_id=body.template_id,
        reviewer=principal.user_id,
    )
    await audit.by_principal(
        session,
        "admin.workflow_request_reviewed",
        principal,
        context_of(request),
        client_id=row.client_id,
        request=str(row.id),
        decision=row.status.value,
    )
    return request_out(row)
