"""Queries of the studio: a client's workflows and executions, and the execution engine's
(see platform/repository.py).

The engine's per-item statements are prebuilt once in ``statements.py`` and run from
:class:`EngineRepository`; they address an execution by its id under the runner's lease.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from studioflow.models import (
    ACTIVE_EXECUTION,
    OPEN_ITEM,
    BatchResult,
    Client,
    ExecutionEvent,
    ExecutionStatus,
    Image,
    ItemStatus,
    RequestStatus,
    Workflow,
    WorkflowExecution,
    WorkflowRequest,
    WorkflowTemplate,
)
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope
from studioflow.studio import statements

ACTIVE = ACTIVE_EXECUTION

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

    async def first_prompts(self, executions: list[WorkflowExecution]) -> dict[uuid.UUID, str]:
        """The first prompt of each of ``executions`` (already read through ``readable``),
        in one query: what a history row shows beside the workflow."""
        if not executions:
            return {}
        rows = await self.session.execute(
            select(BatchResult.execution_id, BatchResult.prompt).where(
                BatchResult.execution_id.in_([e.id for e in executions]), BatchResult.index == 0
            )
        )
        return {row[0]: row[1] for row in rows.all()}


class FailureRepository(Repository[WorkflowExecution]):
    """Failed runs and items of every workspace, grouped by their error code (the admins'
    errors page; no tenant scope, their guard says so). A missing code reads "unknown"."""

    model = WorkflowExecution

    async def runs_by_code(self, since: datetime) -> list[tuple[str, int, datetime | None]]:
        rows = await self.session.execute(
            select(
                WorkflowExecution.error_code,
                func.count(),
                func.max(WorkflowExecution.created_at),
            )
            .where(
                WorkflowExecution.status == ExecutionStatus.failed,
                WorkflowExecution.created_at >= since,
            )
            .group_by(WorkflowExecution.error_code)
            .order_by(func.count().desc())
        )
        return [(code or UNKNOWN, int(n), latest) for code, n, latest in rows.all()]

    async def latest_run(self, code: str, since: datetime) -> WorkflowExecution | None:
        return await self.one_or_none(
            select(WorkflowExecution)
            .where(
                WorkflowExecution.status == ExecutionStatus.failed,
                WorkflowExecution.created_at >= since,
                _code_is(WorkflowExecution.error_code, code),
            )
            .order_by(WorkflowExecution.id.desc())
            .limit(1)
        )

    async def items_by_code(self, since: datetime) -> list[tuple[str, int, datetime | None]]:
        rows = await self.session.execute(
            select(BatchResult.error_code, func.count(), func.max(BatchResult.completed_at))
            .where(BatchResult.status == ItemStatus.failed, BatchResult.completed_at >= since)
            .group_by(BatchResult.error_code)
            .order_by(func.count().desc())
        )
        return [(code or UNKNOWN, int(n), latest) for code, n, latest in rows.all()]

    async def latest_item(self, code: str, since: datetime) -> BatchResult | None:
        found: BatchResult | None = await self.session.scalar(
            select(BatchResult)
            .where(
                BatchResult.status == ItemStatus.failed,
                BatchResult.completed_at >= since,
                _code_is(BatchResult.error_code, code),
            )
            .order_by(BatchResult.completed_at.desc())
            .limit(1)
        )
        return found


UNKNOWN = "unknown"


def _code_is(column: Any, code: str) -> Any:
    return column.is_(None) if code == UNKNOWN else column == code


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


def _nobody_holds(now: datetime) -> Any:
    """Nobody holds the execution (never did, or the lease ran out)."""
    return or_(WorkflowExecution.runner_until.is_(None), WorkflowExecution.runner_until < now)


class EngineRepository(Repository[WorkflowExecution]):
    """The execution engine's statements: creating a batch, the runner's lease and items,
    settling, cancelling, events, recovery. They address an execution by id (the runner
    holds its lease; the caller has already read it through ``ExecutionRepository``), and the
    per-item ones are prebuilt once in ``statements.py``: each runs for every item."""

    model = WorkflowExecution

    # Creating -----------------------------------------------------------------------------

    async def insert(self, values: dict[str, Any], items: list[dict[str, Any]]) -> None:
        await self.session.execute(statements.INSERT_EXECUTION, values)
        await self.session.execute(statements.INSERT_ITEMS, items)

    async def client_settings(self, client_id: uuid.UUID) -> dict[str, Any]:
        client = await self.session.get(Client, client_id)
        return dict(client.settings) if client is not None else {}

    async def reference_image(self, client_id: uuid.UUID, image_id: uuid.UUID) -> Image | None:
        """A reference image of the execution's own client (deleted since: None)."""
        return await self.session.scalar(
            select(Image).where(Image.id == image_id, Image.client_id == client_id)
        )

    # Items --------------------------------------------------------------------------------

    async def items(self, execution_id: uuid.UUID) -> list[BatchResult]:
        rows = await self.session.scalars(
            select(BatchResult)
            .where(BatchResult.execution_id == execution_id)
            .order_by(BatchResult.index)
        )
        return list(rows.all())

    async def items_page(
        self, execution_id: uuid.UUID, params: PageParams
    ) -> tuple[list[BatchResult], str | None]:
        rows, cursor = await self.page_by(
            select(BatchResult).where(BatchResult.execution_id == execution_id),
            [BatchResult.index],
            params,
            key=lambda row: (row[0].index,),
        )
        return [row[0] for row in rows], cursor

    async def items_with_images(self, execution_id: uuid.UUID) -> list[tuple[BatchResult, Any]]:
        rows = await self.session.execute(
            select(BatchResult, Image)
            .outerjoin(Image, Image.id == BatchResult.image_id)
            .where(BatchResult.execution_id == execution_id)
            .order_by(BatchResult.index)
        )
        return [(row[0], row[1]) for row in rows]

    async def open_item_ids(
        self, execution_id: uuid.UUID, states: tuple[str, ...]
    ) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(BatchResult.id).where(
                BatchResult.execution_id == execution_id, BatchResult.status.in_(states)
            )
        )
        return list(rows.all())

    async def remaining(self, execution_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(BatchResult)
            .where(BatchResult.execution_id == execution_id, BatchResult.status.in_(OPEN_ITEM))
        )
        return int(count or 0)

    async def finish_item(self, expected: tuple[str, ...], params: dict[str, Any]) -> Any:
        """The item's ``(index, attempts)`` if it was in ``expected`` and is now finished."""
        return (await self.session.execute(statements.FINISH_ITEM[expected], params)).first()

    async def count_item(self, status: str, params: dict[str, Any]) -> Any:
        """The execution's counters after one more item in ``status``."""
        return (await self.session.execute(statements.COUNT_ITEM[status], params)).one()

    async def retry_item(self, params: dict[str, Any]) -> bool:
        moved = await self.session.execute(statements.RETRY_ITEM, params)
        return bool(getattr(moved, "rowcount", 0))

    async def back_to_pending(self, item_id: uuid.UUID) -> None:
        await self.session.execute(
            update(BatchResult)
            .where(BatchResult.id == item_id, BatchResult.status == "processing")
            .values(status="pending")
        )

    async def earliest_due(self, execution_id: uuid.UUID) -> datetime | None:
        due: datetime | None = await self.session.scalar(
            select(BatchResult.available_at)
            .where(BatchResult.execution_id == execution_id, BatchResult.status == "pending")
            .order_by(BatchResult.available_at)
            .limit(1)
        )
        return due

    # The runner's lease and claims ----------------------------------------------------------

    async def lease(self, params: dict[str, Any]) -> Any:
        """The execution's row as a mapping if this runner got its lease for the slice."""
        return (await self.session.execute(statements.LEASE, params)).mappings().first()

    async def requeue_in_flight(self, execution_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            statements.REQUEUE_IN_FLIGHT, {"p_execution": execution_id, "p_now": now}
        )

    async def renew(self, execution_id: uuid.UUID, runner_id: str, until: datetime) -> bool:
        result = await self.session.execute(
            statements.RENEW, {"p_execution": execution_id, "p_runner": runner_id, "p_until": until}
        )
        return bool(getattr(result, "rowcount", 0))

    async def status(self, execution_id: uuid.UUID) -> str | None:
        value = await self.session.execute(statements.STATUS, {"p_execution": execution_id})
        found = value.scalar()
        return None if found is None else str(found)

    async def claim(self, dialect: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Take up to ``p_room`` due items: pending → processing, one more attempt each."""
        if dialect == "postgresql":
            chosen = list((await self.session.scalars(statements.CHOOSE_DUE, params)).all())
            if not chosen:
                return []
            taken = await self.session.execute(statements.TAKE_CHOSEN, {**params, "p_ids": chosen})
            return [tuple(row) for row in taken.all()]
        rows = await self.session.execute(statements.CLAIM_ONE_STATEMENT, params)
        return [tuple(row) for row in rows.all()]

    async def hand_on(self, execution_id: uuid.UUID, runner_id: str) -> int | None:
        """Release this runner's lease and count the next slice; None if it had lost it."""
        next_slice: int | None = (
            await self.session.execute(
                update(WorkflowExecution)
                .where(
                    WorkflowExecution.id == execution_id,
                    WorkflowExecution.runner_id == runner_id,
                )
                .values(runner_id=None, runner_until=None, slice_no=WorkflowExecution.slice_no + 1)
                .returning(WorkflowExecution.slice_no)
            )
        ).scalar_one_or_none()
        return next_slice

    # Closing -----------------------------------------------------------------------------

    async def settle(self, execution_id: uuid.UUID, now: datetime) -> Any:
        return (
            await self.session.execute(
                statements.SETTLE, {"p_execution": execution_id, "p_now": now}
            )
        ).first()

    async def set_error(self, execution_id: uuid.UUID, error: str, error_code: str) -> None:
        await self.session.execute(
            update(WorkflowExecution)
            .where(WorkflowExecution.id == execution_id)
            .values(error=error, error_code=error_code)
        )

    async def mark_cancelled(self, execution_id: uuid.UUID, now: datetime) -> bool:
        """Cancel it if it is still active; False if it had already ended."""
        result = await self.session.execute(
            update(WorkflowExecution)
            .where(WorkflowExecution.id == execution_id, WorkflowExecution.status.in_(ACTIVE))
            .values(status="cancelled", completed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def hand_back(self, execution_id: uuid.UUID, runner_id: str) -> bool:
        """Give up this runner's lease at once (a worker stopping); False if not held."""
        result = await self.session.execute(
            update(WorkflowExecution)
            .where(WorkflowExecution.id == execution_id, WorkflowExecution.runner_id == runner_id)
            .values(runner_id=None, runner_until=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def release(self, execution_id: uuid.UUID) -> None:
        await self.session.execute(
            update(WorkflowExecution)
            .where(WorkflowExecution.id == execution_id)
            .values(runner_id=None, runner_until=None)
        )

    async def fresh(self, execution_id: uuid.UUID) -> WorkflowExecution | None:
        return await self.session.get(WorkflowExecution, execution_id, populate_existing=True)

    # Recovery ----------------------------------------------------------------------------

    async def stale(self, stale_after: datetime, *, limit: int) -> list[tuple[Any, ...]]:
        """Active executions nobody holds and nothing touched since ``stale_after``."""
        rows = await self.session.execute(
            select(WorkflowExecution.id, WorkflowExecution.slice_no, WorkflowExecution.status)
            .where(
                WorkflowExecution.status.in_(ACTIVE),
                _nobody_holds(datetime.now(UTC)),
                WorkflowExecution.updated_at < stale_after,
            )
            .limit(limit)
        )
        return [tuple(row) for row in rows.all()]

    async def cancelled_with_open_items(self, *, limit: int) -> list[uuid.UUID]:
        """Cancelled while their runner was dying: nobody else will close them."""
        rows = await self.session.scalars(
            select(WorkflowExecution.id)
            .join(BatchResult, BatchResult.execution_id == WorkflowExecution.id)
            .where(
                WorkflowExecution.status == "cancelled",
                _nobody_holds(datetime.now(UTC)),
                BatchResult.status.in_(OPEN_ITEM),
            )
            .distinct()
            .limit(limit)
        )
        return list(rows.all())

    # Events ------------------------------------------------------------------------------

    async def insert_events(self, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
        await self.session.execute(statements.INSERT_EVENTS, rows)

    async def reserve_event_numbers(self, execution_id: uuid.UUID, count: int) -> int:
        """The last of ``count`` new event numbers of the execution (one UPDATE)."""
        last = (
            await self.session.execute(
                statements.RESERVE_EVENT_SEQ, {"p_execution": execution_id, "p_count": count}
            )
        ).scalar_one()
        return int(last)

    async def events_after(
        self, execution_id: uuid.UUID, after: int, *, limit: int
    ) -> list[ExecutionEvent]:
        rows = await self.session.scalars(
            select(ExecutionEvent)
            .where(ExecutionEvent.execution_id == execution_id, ExecutionEvent.seq > after)
            .order_by(ExecutionEvent.seq)
            .limit(limit)
        )
        return list(rows.all())

    async def prune_events(self, ended_before: datetime) -> int:
        """Drop the events of executions that ended before then (the rows stay)."""
        ended = select(WorkflowExecution.id).where(
            WorkflowExecution.completed_at.is_not(None),
            WorkflowExecution.completed_at < ended_before,
        )
        result = await self.session.execute(
            delete(ExecutionEvent).where(ExecutionEvent.execution_id.in_(ended))
        )
        return int(getattr(result, "rowcount", 0) or 0)
