"""Workflows of a client: instances of admin templates (auto-assigned ones included)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.auth import Principal
from studioflow.models import Workflow, WorkflowRequest, WorkflowTemplate
from studioflow.platform.db import Database
from studioflow.platform.errors import NotFound
from studioflow.platform.pagination import PageParams
from studioflow.studio.repository import (
    RequestRepository,
    TemplateRepository,
    WorkflowRepository,
)


async def assign_auto_templates(session: AsyncSession, client_id: uuid.UUID) -> None:
    """Give the client a workflow for every auto-assigned template it lacks (idempotent)."""
    await WorkflowRepository(session).assign_auto_templates(client_id)


async def list_workflows(
    db: Database, session: AsyncSession, principal: Principal
) -> list[tuple[Workflow, WorkflowTemplate]]:
    """The client's workflows by name. Auto-assigned templates it lacks (a new client, a new
    template) are assigned first, in a short unit of work that also answers."""
    return (await page_of_workflows(db, session, principal, None))[0]


async def page_of_workflows(
    db: Database, session: AsyncSession, principal: Principal, params: PageParams | None
) -> tuple[list[tuple[Workflow, WorkflowTemplate]], str | None]:
    """A page of :func:`list_workflows` (all of them without ``params``)."""
    if await WorkflowRepository(session).missing_auto_templates(principal.client_id):
        async with db.writer_for(session) as writer:
            workflows = WorkflowRepository(writer)
            await workflows.assign_auto_templates(principal.client_id)
            return await workflows.active_with_templates(principal.client_id, params)
    return await WorkflowRepository(session).active_with_templates(principal.client_id, params)


async def get_workflow(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID
) -> tuple[Workflow, WorkflowTemplate]:
    found = await WorkflowRepository(session).with_template(principal, workflow_id)
    if found is None:
        raise NotFound("No such workflow.")
    return found


async def assign_workflow(
    session: AsyncSession,
    client_id: uuid.UUID,
    template: WorkflowTemplate,
    name: str | None,
    overrides: dict[str, Any],
) -> Workflow:
    """Give a client a workflow of ``template`` (or switch its existing one back on)."""
    workflows = WorkflowRepository(session)
    existing = await workflows.of_template(client_id, template.id)
    if existing is not None:
        existing.is_active = True
        existing.config_overrides = overrides or existing.config_overrides
        return existing
    workflow = workflows.add(
        Workflow(
            client_id=client_id,
            template_id=template.id,
            name=name or template.name,
            config_overrides=overrides,
        )
    )
    await workflows.flush()
    return workflow


async def page_of_requests(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[WorkflowRequest], str | None]:
    return await RequestRepository(session).page(principal, params)


async def latest_requests(session: AsyncSession, principal: Principal) -> list[WorkflowRequest]:
    return await RequestRepository(session).latest(principal)


async def review_queue(
    session: AsyncSession,
) -> tuple[list[WorkflowTemplate], list[WorkflowRequest]]:
    """For platform admins: every template, and the requests waiting for review."""
    return await TemplateRepository(session).by_name(), await RequestRepository(session).pending()


async def create_request(
    session: AsyncSession, principal: Principal, *, title: str, description: str
) -> WorkflowRequest:
    """A client asks the platform for a new workflow; an admin approves or declines it."""
    requests = RequestRepository(session)
    row = requests.add(
        WorkflowRequest(
            client_id=principal.client_id,
            requested_by=principal.user_id,
            title=title,
            description=description,
        )
    )
    await requests.flush()
    return row
