"""Queries of the studio: a client's workflows and executions (see platform/repository.py).

The per-item statements of the runner (``statements.py``) address an execution by its id
under the runner's lease, not a principal: they stay prebuilt there.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from studioflow.models import (
    Client,
    RequestStatus,
    Workflow,
    WorkflowExecution,
    WorkflowRequest,
    WorkflowTemplate,
)
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope

# Built once: every execute reads it.
_WORKFLOW_OF_CLIENT = (
    select(Workflow, WorkflowTemplate)
    .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
    .where(Workflow.id == bindparam("p_workflow"), Workflow.client_id == bindparam("p_client"))
)


class WorkflowRepository(ClientScoped[Workflow]):
    model = Workflow

    async def with_template(
        self, scope: Scope, workflow_id: uuid.UUID
    ) -> tuple[Workflow, WorkflowTemplate] | None:
        row = (
            await self.session.execute(
                _WORKFLOW_OF_CLIENT, {"p_workflow": workflow_id, "p_client": scope.client_id}
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def missing_auto_templates(self, client_id: uuid.UUID) -> bool:
        """Whether an auto-assigned, active template has no workflow of this client yet."""
        assigned = select(Workflow.id).where(
            Workflow.client_id == client_id, Workflow.template_id == WorkflowTemplate.id
        )
        missing = await self.session.scalar(
            select(WorkflowTemplate.id)
            .where(
                WorkflowTemplate.auto_assign.is_(True),
                WorkflowTemplate.is_active.is_(True),
                ~assigned.exists(),
            )
            .limit(1)
        )
        return missing is not None

    async def assign_auto_templates(self, client_id: uuid.UUID) -> None:
        """A workflow for every auto-assigned template the client lacks (idempotent, and
        safe against a concurrent request doing the same)."""
        have = set(
            (
                await self.session.scalars(
                    select(Workflow.template_id).where(Workflow.client_id == client_id)
                )
            ).all()
        )
        templates = await self.session.scalars(
            select(WorkflowTemplate).where(
                WorkflowTemplate.auto_assign.is_(True), WorkflowTemplate.is_active.is_(True)
            )
        )
        for template in templates.all():
            if template.id in have:
                continue
            try:
                async with self.session.begin_nested():
                    self.session.add(
                        Workflow(client_id=client_id, template_id=template.id, name=template.name)
                    )
                    await self.session.flush()
            except IntegrityError:
                continue  # assigned by a concurrent request

    async def active_with_templates(
        self, client_id: uuid.UUID, params: PageParams | None
    ) -> tuple[list[tuple[Workflow, WorkflowTemplate]], str | None]:
        statement = (
            select(Workflow, WorkflowTemplate)
            .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
            .where(Workflow.client_id == client_id, Workflow.is_active.is_(True))
        )
        if params is None:
            rows = await self.session.execute(statement.order_by(Workflow.name, Workflow.id))
            return [(w, t) for w, t in rows], None
        page, cursor = await self.page_by(
            statement,
            [Workflow.name, Workflow.id],
            params,
            key=lambda row: (row[0].name, row[0].id),
        )
        return [(w, t) for w, t in page], cursor

    async def of_template(self, client_id: uuid.UUID, template_id: uuid.UUID) -> Workflow | None:
        return await self.one_or_none(
            self.of_client(client_id).where(Workflow.template_id == template_id)
        )


class ExecutionRepository(ClientScoped[WorkflowExecution]):
    model = WorkflowExecution

    async def get_fresh(self, scope: Scope, execution_id: uuid.UUID) -> WorkflowExecution | None:
        """The execution as the database has it now (runners change it behind our back)."""
        return await self.one_or_none(
            self.readable(scope)
            .where(WorkflowExecution.id == execution_id)
            .execution_options(populate_existing=True)
        )

    async def page(
        self,
        scope: Scope,
        params: PageParams,
        *,
        status: str | None = None,
        workflow_id: uuid.UUID | None = None,
        kind: str | None = None,
    ) -> tuple[list[WorkflowExecution], str | None]:
        statement = self.readable(scope)
        if status:
            statement = statement.where(WorkflowExecution.status == status)
        if workflow_id:
            statement = statement.where(WorkflowExecution.workflow_id == workflow_id)
        if kind:
            statement = statement.where(WorkflowExecution.kind == kind)
        return await self.newest_first(statement, params)


class RequestRepository(ClientScoped[WorkflowRequest]):
    model = WorkflowRequest

    async def latest(self, scope: Scope, *, limit: int = 100) -> list[WorkflowRequest]:
        return await self.all(self.readable(scope).order_by(WorkflowRequest.id.desc()).limit(limit))

    async def page(self, scope: Scope, params: PageParams) -> tuple[list[Any], str | None]:
        return await self.newest_first(self.readable(scope), params)

    async def get(self, request_id: uuid.UUID) -> WorkflowRequest | None:
        """Any client's request by id (platform admins)."""
        return await self.session.get(WorkflowRequest, request_id)

    async def every_client(
        self, params: PageParams, *, status: str | None = None
    ) -> tuple[list[WorkflowRequest], str | None]:
        """Every client's requests, newest first (platform admins)."""
        statement = select(WorkflowRequest)
        if status:
            statement = statement.where(WorkflowRequest.status == status)
        return await self.newest_first(statement, params)

    async def pending(self, *, limit: int = 100) -> list[WorkflowRequest]:
        """Every client's requests waiting for review, oldest first (platform admins)."""
        return await self.all(
            select(WorkflowRequest)
            .where(WorkflowRequest.status == RequestStatus.pending)
            .order_by(WorkflowRequest.id)
            .limit(limit)
        )


class TemplateRepository(Repository[WorkflowTemplate]):
    model = WorkflowTemplate

    async def by_name(self) -> list[WorkflowTemplate]:
        return await self.all(select(WorkflowTemplate).order_by(WorkflowTemplate.name))

    async def page(self, params: PageParams) -> tuple[list[WorkflowTemplate], str | None]:
        rows, cursor = await self.page_by(
            select(WorkflowTemplate),
            [WorkflowTemplate.name, WorkflowTemplate.id],
            params,
            key=lambda row: (row[0].name, row[0].id),
        )
        return [row[0] for row in rows], cursor

    async def get(self, template_id: uuid.UUID) -> WorkflowTemplate | None:
        return await self.session.get(WorkflowTemplate, template_id)

    async def named(self, name: str) -> WorkflowTemplate | None:
        return await self.one_or_none(select(WorkflowTemplate).where(WorkflowTemplate.name == name))

    async def usage(self, template_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(Workflow).where(Workflow.template_id == template_id)
        )
        return int(count or 0)

    async def client_exists(self, client_id: uuid.UUID) -> bool:
        return await self.session.get(Client, client_id) is not None
