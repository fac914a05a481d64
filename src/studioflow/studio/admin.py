"""What platform admins do in the studio: templates, assigning workflows, reviewing the
clients' workflow requests. Callers have been authorised as platform admins; the clients'
own requests are in :mod:`studio.service`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import RequestStatus, Workflow, WorkflowRequest, WorkflowTemplate
from studioflow.platform.errors import Conflict, NotFound
from studioflow.platform.pagination import PageParams
from studioflow.studio import service
from studioflow.studio.repository import RequestRepository, TemplateRepository


async def templates(
    session: AsyncSession, params: PageParams
) -> tuple[list[tuple[WorkflowTemplate, int]], str | None]:
    """Templates by name, each with how many workflows use it."""
    repository = TemplateRepository(session)
    page, cursor = await repository.page(params)
    return [(t, await repository.usage(t.id)) for t in page], cursor


async def usage(session: AsyncSession, template: WorkflowTemplate) -> int:
    return await TemplateRepository(session).usage(template.id)


async def create_template(session: AsyncSession, values: dict[str, Any]) -> WorkflowTemplate:
    repository = TemplateRepository(session)
    if await repository.named(values["name"]) is not None:
        raise Conflict("A template has that name.")
    template = repository.add(WorkflowTemplate(**values))
    await repository.flush()
    return template


async def template(session: AsyncSession, template_id: uuid.UUID) -> WorkflowTemplate:
    found = await TemplateRepository(session).get(template_id)
    if found is None:
        raise NotFound("No such template.")
    return found


async def update_template(
    session: AsyncSession, template: WorkflowTemplate, changes: dict[str, Any]
) -> WorkflowTemplate:
    """Running executions keep the price and provider they started with."""
    new_name = changes.get("name")
    if (
        new_name is not None
        and new_name != template.name
        and await TemplateRepository(session).named(new_name) is not None
    ):
        raise Conflict("A template has that name.")
    for name, value in changes.items():
        if value is not None:
            setattr(template, name, value)
    await session.flush()
    return template


async def assign(
    session: AsyncSession,
    client_id: uuid.UUID,
    template_id: uuid.UUID,
    name: str | None,
    overrides: dict[str, Any],
) -> tuple[Workflow, WorkflowTemplate]:
    if not await TemplateRepository(session).client_exists(client_id):
        raise NotFound("No such client.")
    found = await template(session, template_id)
    return await service.assign_workflow(session, client_id, found, name, overrides), found


async def requests(
    session: AsyncSession, params: PageParams, status: str | None
) -> tuple[list[WorkflowRequest], str | None]:
    return await RequestRepository(session).every_client(params, status=status)


async def review(
    session: AsyncSession,
    request_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None,
    template_id: uuid.UUID | None,
    reviewer: uuid.UUID,
) -> WorkflowRequest:
    """Approve (optionally assigning a template's workflow to the client) or decline."""
    row = await RequestRepository(session).get(request_id)
    if row is None:
        raise NotFound("No such workflow request.")
    if row.status != RequestStatus.pending:
        raise Conflict(f"This request was already {row.status}.")
    if approve and template_id is not None:
        chosen = await template(session, template_id)
        await service.assign_workflow(session, row.client_id, chosen, None, {})
        row.template_id = chosen.id
    row.status = RequestStatus.approved if approve else RequestStatus.declined
    row.admin_note = note
    row.reviewed_by = reviewer
    row.reviewed_at = datetime.now(UTC)
    await session.flush()
    return row
