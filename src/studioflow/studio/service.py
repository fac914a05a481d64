"""Workflows of a client: instances of admin templates (auto-assigned ones included)."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.auth import Principal
from studioflow.models import Workflow, WorkflowTemplate
from studioflow.platform.db import Database
from studioflow.platform.errors import NotFound
from studioflow.platform.pagination import PageParams, keyset_page, paginate_by


async def assign_auto_templates(session: AsyncSession, client_id: uuid.UUID) -> None:
    """Give the client a workflow for every auto-assigned template it lacks (idempotent)."""
    have = set(
        (
            await session.scalars(
                select(Workflow.template_id).where(Workflow.client_id == client_id)
            )
        ).all()
    )
    templates = await session.scalars(
        select(WorkflowTemplate).where(
            WorkflowTemplate.auto_assign.is_(True), WorkflowTemplate.is_active.is_(True)
        )
    )
    for template in templates.all():
        if template.id in have:
            continue
        try:
            async with session.begin_nested():
                session.add(
                    Workflow(client_id=client_id, template_id=template.id, name=template.name)
                )
                await session.flush()
        except IntegrityError:
            continue  # assigned by a concurrent request


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
    if await _missing_auto_templates(session, principal.client_id):
        async with db.writer_for(session) as writer:
            await assign_auto_templates(writer, principal.client_id)
            return await _workflows(writer, principal.client_id, params)
    return await _workflows(session, principal.client_id, params)


async def _missing_auto_templates(session: AsyncSession, client_id: uuid.UUID) -> bool:
    assigned = select(Workflow.id).where(
        Workflow.client_id == client_id, Workflow.template_id == WorkflowTemplate.id
    )
    missing = await session.scalar(
        select(WorkflowTemplate.id)
        .where(
            WorkflowTemplate.auto_assign.is_(True),
            WorkflowTemplate.is_active.is_(True),
            ~assigned.exists(),
        )
        .limit(1)
    )
    return missing is not None


async def _workflows(
    session: AsyncSession, client_id: uuid.UUID, params: PageParams | None
) -> tuple[list[tuple[Workflow, WorkflowTemplate]], str | None]:
    statement = (
        select(Workflow, WorkflowTemplate)
        .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
        .where(Workflow.client_id == client_id, Workflow.is_active.is_(True))
    )
    if params is None:
        rows = await session.execute(statement.order_by(Workflow.name, Workflow.id))
        return [(w, t) for w, t in rows], None
    order = [Workflow.name, Workflow.id]
    found = list((await session.execute(paginate_by(statement, order, params))).all())
    page, cursor = keyset_page(found, params, key=lambda row: (row[0].name, row[0].id))
    return [(w, t) for w, t in page], cursor


# Built once: every execute reads it (see statements.py for why).
_WORKFLOW_OF_CLIENT = (
    select(Workflow, WorkflowTemplate)
    .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
    .where(Workflow.id == bindparam("p_workflow"), Workflow.client_id == bindparam("p_client"))
)


async def get_workflow(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID
) -> tuple[Workflow, WorkflowTemplate]:
    row = (
        await session.execute(
            _WORKFLOW_OF_CLIENT, {"p_workflow": workflow_id, "p_client": principal.client_id}
        )
    ).first()
    if row is None:
        raise NotFound("No such workflow.")
    workflow, template = row
    return workflow, template
