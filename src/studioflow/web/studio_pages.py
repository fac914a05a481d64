"""Pages of the studio: workflows, the execute form, live executions, history, requests,
and the admins' templates and request review."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from studioflow.billing import credits
from studioflow.media import service as media
from studioflow.media.urls import signed_url
from studioflow.models import ExecutionStatus
from studioflow.models.studio import OPEN_ITEM
from studioflow.platform import flags
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.studio import executions, pdf, service
from studioflow.studio.providers import aspect_ratios_of
from studioflow.web.auth import Page, PageView, html_errors
from studioflow.web.badges import BADGES
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
WorkflowsPage = Annotated[PageView, Depends(Page("workflows:read"))]
AdminPage = Annotated[PageView, Depends(Page(admin=True))]
STATUSES = tuple(ExecutionStatus)


def _relative(request: Request, image_id: uuid.UUID, size: str | None = None) -> str:
    return signed_url(request.app.state.platform, image_id, size=size, relative=True)


@router.get("/studio", response_class=HTMLResponse)
async def workflows_page(request: Request, session: SessionDep, page: WorkflowsPage) -> Response:
    principal, context = page.principal, page.context
    recent, _ = await executions.list_executions(session, principal, PageParams(limit=5))
    context.update(
        workflows=await service.list_workflows(request.app.state.platform.db, session, principal),
        recent=recent,
        badges=BADGES,
        balance=await credits.balance(request.app.state.platform.db, session, principal.client_id),
    )
    return render(request, "studio/workflows.html", context)


@router.get("/studio/workflows/{workflow_id}", response_class=HTMLResponse)
async def workflow_page(
    request: Request, session: SessionDep, page: WorkflowsPage, workflow_id: uuid.UUID
) -> Response:
    principal, context = page.principal, page.context
    workflow, template = await service.get_workflow(session, principal, workflow_id)
    images, _ = await media.list_images(session, principal, PageParams(limit=24))
    config = {**template.default_config, **workflow.config_overrides}
    settings = request.app.state.platform.settings
    context.update(
        workflow=workflow,
        template=template,
        config=config,
        ratios=sorted(aspect_ratios_of(template.provider)),
        references=[(image, _relative(request, image.id, "thumb")) for image in images],
        balance=await credits.balance(request.app.state.platform.db, session, principal.client_id),
        max_items=settings.studio_max_items,
        max_chars=settings.studio_max_prompt_chars,
        can_execute=principal.can("workflows:execute"),
    )
    return render(request, "studio/workflow.html", context)


@router.get("/studio/executions", response_class=HTMLResponse)
async def history_page(
    request: Request,
    session: SessionDep,
    page: WorkflowsPage,
    status: str | None = None,
    workflow: uuid.UUID | None = None,
    cursor: str | None = None,
) -> Response:
    principal, context = page.principal, page.context
    status = status if status in STATUSES else None  # an unknown one filters nothing
    rows, next_cursor = await executions.list_executions(
        session,
        principal,
        PageParams(limit=25, cursor=cursor),
        status=status,
        workflow_id=workflow,
    )
    workflows = await service.list_workflows(request.app.state.platform.db, session, principal)
    context.update(
        executions=rows,
        prompts=await executions.first_prompts(session, rows),
        workflow_names={w.id: w.name for w, _ in workflows},
        next_cursor=next_cursor,
        statuses=STATUSES,
        status=status,
        workflow=workflow,
        workflows=workflows,
        badges=BADGES,
    )
    return render(request, "studio/executions.html", context)


@router.get("/studio/executions/{execution_id}", response_class=HTMLResponse)
async def execution_page(
    request: Request, session: SessionDep, page: WorkflowsPage, execution_id: uuid.UUID
) -> Response:
    principal, context = page.principal, page.context
    execution = await executions.get_execution(session, principal, execution_id)
    items = await executions.batch_results(session, execution.id)
    finished = execution.completed + execution.failed + execution.cancelled
    # Live until every item has its final state: after a cancel the runner still aborts the
    # items it holds, and the page follows until the last event rather than freezing them.
    live = execution.status in executions.ACTIVE or any(i.status in OPEN_ITEM for i in items)
    expiry = await media.expiries(session, principal, [i.image_id for i in items if i.image_id])
    dates = [d for d in expiry.values() if d is not None]
    context.update(
        execution=execution,
        # The earliest date a result goes unless kept, and whether any still expires.
        expires_at=min(dates) if dates else None,
        can_keep=principal.can("images:write"),
        items=[
            (
                item,
                _relative(request, item.image_id, "small") if item.image_id else None,
                _relative(request, item.image_id) if item.image_id else None,
            )
            for item in items
        ],
        finished=finished,
        badges=BADGES,
        active=live,
        cancellable=execution.status in executions.ACTIVE,
        downloadable=not live and execution.completed > 0,
        can_execute=principal.can("workflows:execute"),
        pdf_enabled=await flags.enabled(
            request.app.state.platform.db, "studio.pdf_export", principal
        ),
    )
    return render(request, "studio/execution.html", context)


@router.get("/studio/executions/{execution_id}/pdf")
async def execution_pdf(
    request: Request,
    session: SessionDep,
    page: WorkflowsPage,
    execution_id: uuid.UUID,
    paper: str = "A4",
) -> Response:
    await flags.require(request.app.state.platform.db, "studio.pdf_export", page.principal)
    document, _ = await pdf.export(
        request.app.state.platform,
        session,
        page.principal,
        [execution_id],
        jobs=False,
        paper="Letter" if paper == "Letter" else "A4",
        title=f"Execution of {datetime.now(UTC):%Y-%m-%d}",
    )
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="execution-{execution_id}.pdf"'},
    )


@router.get("/studio/requests", response_class=HTMLResponse)
async def requests_page(request: Request, session: SessionDep, page: WorkflowsPage) -> Response:
    principal, context = page.principal, page.context
    context.update(requests=await service.latest_requests(session, principal))
    return render(request, "studio/requests.html", context)


@router.get("/admin/studio", response_class=HTMLResponse)
async def admin_studio_page(request: Request, session: SessionDep, page: AdminPage) -> Response:
    context = page.context
    templates, pending = await service.review_queue(session)
    context.update(templates=templates, pending=pending)
    return render(request, "studio/admin.html", context)
