"""HTTP layer of the studio (API.md, "Studio"): workflows, executions, jobs, live events."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from studioflow.identity.auth import Principal, platform_of
from studioflow.identity.hourly_limits import check_hourly
from studioflow.media import service as media
from studioflow.media.auth import ImagesWrite as ResultsKeeper
from studioflow.media.urls import signed_url
from studioflow.models import (
    ExecutionStatus,
    Workflow,
    WorkflowExecution,
    WorkflowTemplate,
)
from studioflow.models.base import INT_MAX
from studioflow.platform import flags, idempotency
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import NotFound, Unprocessable, answers
from studioflow.platform.pagination import Page, PageParams, page_params
from studioflow.studio import executions, pdf, service, streaming
from studioflow.studio.auth import Executor, WorkflowReader
from studioflow.studio.prompts import Item, PromptError, parse_items
from studioflow.studio.schemas import (
    BatchResultOut,
    ExecuteIn,
    ExecuteOut,
    ExecutionOut,
    JobIn,
    JobOut,
    KeptOut,
    PdfExportIn,
    WorkflowOut,
    batch_result_out,
    execution_out,
)
from studioflow.studio.templates import NANO_BANANA

router = APIRouter(tags=["studio"])
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


def workflow_out(workflow: Workflow, template: WorkflowTemplate) -> WorkflowOut:
    return WorkflowOut.of(workflow, template)


@router.get("/api/v1/workflows", response_model=Page[WorkflowOut])
async def list_workflows(
    request: Request,
    session: SessionDep,
    principal: WorkflowReader,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[WorkflowOut]:
    """The workflows assigned to the active client, by name."""
    pairs, cursor = await service.page_of_workflows(
        platform_of(request).db, session, principal, params
    )
    return Page(items=[workflow_out(w, t) for w, t in pairs], next_cursor=cursor)


@router.get("/api/v1/workflows/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(
    workflow_id: uuid.UUID, session: SessionDep, principal: WorkflowReader
) -> WorkflowOut:
    """One workflow."""
    return workflow_out(*await service.get_workflow(session, principal, workflow_id))


@router.post(
    "/api/v1/workflows/{workflow_id}/execute",
    status_code=202,
    response_model=ExecuteOut,
    responses=answers(
        {
            402: "Not enough credits for the batch (`insufficient_credits`).",
            409: ("This Idempotency-Key was used with another body (`idempotency_key_reused`)."),
            429: "More generations an hour than the platform allows (`rate_limited`).",
        }
    ),
)
async def execute(
    workflow_id: uuid.UUID,
    body: ExecuteIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Executor,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Queue a batch: credits for every item are reserved now (402 when the balance is short);
    failed and cancelled items are refunded. With Idempotency-Key a retry changes nothing."""
    platform = platform_of(request)
    resolved = await service.get_workflow(session, principal, workflow_id)  # 404 first
    guard = idempotency.Guard(
        session,
        principal.client_id,
        f"execute:{workflow_id}",
        idempotency_key,
        body.model_dump(mode="json"),
    )
    if (replay := await guard.replay()) is not None:
        response.status_code = replay.status_code
        response.headers["Idempotent-Replayed"] = "true"  # Stripe's name: a client can tell
        return replay.response
    await check_hourly(request, principal, "generations_per_hour")
    try:
        items = parse_items(
            body.prompts,
            body.prompts_text,
            max_items=platform.settings.studio_max_items,
            max_chars=platform.settings.studio_max_prompt_chars,
        )
    except PromptError as error:
        raise Unprocessable(str(error), code=error.code) from None
    execution = await executions.create_execution(
        platform,
        session,
        principal,
        executions.NewExecution(
            workflow_id=workflow_id,
            items=items,
            reference_image_ids=body.reference_image_ids,
            config=body.config.model_dump(exclude_none=True),
            resolved=resolved,
        ),
    )
    out = ExecuteOut(
        execution_id=execution.id,
        status=execution.status,
        total=execution.total,
        credits_reserved=execution.credits_reserved,
    )
    await guard.remember(202, out.model_dump(mode="json"))
    return out


@router.get("/api/v1/executions", response_model=Page[ExecutionOut])
async def list_executions(
    session: SessionDep,
    principal: WorkflowReader,
    params: Annotated[PageParams, Depends(page_params)],
    status: ExecutionStatus | None = None,
    workflow_id: uuid.UUID | None = None,
    kind: Annotated[str | None, Query(pattern="^(batch|job)$")] = None,
) -> Page[ExecutionOut]:
    """The active client's executions, newest first; filter by status, workflow or kind."""
    rows, cursor = await executions.list_executions(
        session, principal, params, status=status, workflow_id=workflow_id, kind=kind
    )
    return Page(items=[execution_out(e) for e in rows], next_cursor=cursor)


@router.get("/api/v1/executions/{execution_id}", response_model=ExecutionOut)
async def get_execution(
    execution_id: uuid.UUID, session: SessionDep, principal: WorkflowReader
) -> ExecutionOut:
    """One execution with its progress, cost and timing."""
    return execution_out(await executions.get_execution(session, principal, execution_id))


@router.get("/api/v1/executions/{execution_id}/batch-results", response_model=Page[BatchResultOut])
async def batch_results(
    execution_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: WorkflowReader,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[BatchResultOut]:
    """Every item in order: prompt, state, attempts, error, and a signed URL of its image
    when done, with the date the image expires unless kept."""
    platform = platform_of(request)
    await executions.get_execution(session, principal, execution_id)
    items, cursor = await executions.page_of_results(session, execution_id, params)
    expiry = await media.expiries(
        session, principal, [item.image_id for item in items if item.image_id]
    )
    return Page(
        items=[
            batch_result_out(
                item,
                signed_url(platform, item.image_id) if item.image_id else None,
                expiry.get(item.image_id) if item.image_id else None,
            )
            for item in items
        ],
        next_cursor=cursor,
    )


@router.post("/api/v1/executions/{execution_id}/keep", response_model=KeptOut)
async def keep_results(
    execution_id: uuid.UUID, session: SessionDep, principal: ResultsKeeper
) -> KeptOut:
    """Keep every result of a run: their expiry goes, and they stay in the gallery until
    deleted (one image: ``PATCH /api/v1/images/{id}`` with ``expires_at: null``)."""
    await executions.get_execution(session, principal, execution_id)
    image_ids = [i.image_id for i in await executions.batch_results(session, execution_id)]
    kept = await media.keep_images(session, principal, [i for i in image_ids if i])
    return KeptOut(kept=kept)


@router.get(
    "/api/v1/executions/{execution_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def execution_events(
    execution_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: WorkflowReader,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``progress``, ``item``, then one of ``completed``, ``failed``,
    ``cancelled``. Ids increase by one; reconnect with ``Last-Event-ID`` (or ``?after=``) to
    get exactly what was missed."""
    await executions.get_execution(session, principal, execution_id)
    last = after or 0
    if last_event_id is not None:
        try:
            last = max(0, int(last_event_id))
        except ValueError:
            raise Unprocessable("Last-Event-ID must be a number.") from None
        if last > INT_MAX:
            raise Unprocessable("Last-Event-ID is past any event id.")
    return StreamingResponse(
        streaming.execution_events(platform_of(request), request, execution_id, last),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/api/v1/executions/{execution_id}/cancel", response_model=ExecutionOut)
async def cancel_execution(
    execution_id: uuid.UUID, request: Request, session: SessionDep, principal: Executor
) -> ExecutionOut:
    """Stop it: pending items are cancelled and refunded now, running ones are aborted."""
    execution = await executions.cancel_execution(
        platform_of(request), session, principal, execution_id
    )
    return execution_out(execution)


@router.get(
    "/api/v1/executions/{execution_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def download_execution(
    execution_id: uuid.UUID, request: Request, session: SessionDep, principal: WorkflowReader
) -> StreamingResponse:
    """A ZIP of every result with ``manifest.csv`` (index, prompt, status, file), streamed."""
    await executions.get_execution(session, principal, execution_id)
    entries = await streaming.zip_entries(session, execution_id)
    return StreamingResponse(
        streaming.zip_stream(platform_of(request), entries),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="execution-{execution_id}.zip"'},
    )


@router.post(
    "/api/v1/pdf/export",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def export_pdf(
    body: PdfExportIn, request: Request, session: SessionDep, principal: WorkflowReader
) -> Response:
    """A PDF of an execution's results (or of some jobs): title, images, prompts. Watermarked
    while the client has 0 credits (seed 001). 403 ``feature_disabled`` when the
    ``studio.pdf_export`` flag is off."""
    await flags.require(platform_of(request).db, "studio.pdf_export", principal)
    if (body.execution_id is None) == (not body.job_ids):
        raise Unprocessable("Give execution_id or job_ids.", code="validation_error")
    ids = [body.execution_id] if body.execution_id else list(dict.fromkeys(body.job_ids))
    document, watermark = await pdf.export(
        platform_of(request),
        session,
        principal,
        [i for i in ids if i is not None],
        jobs=bool(body.job_ids),
        paper=body.paper,
        title=body.title,
    )
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="studioflow-results.pdf"',
            "X-Watermarked": "true" if watermark else "false",
        },
    )


# --- jobs: the single-prompt shape of seed 001 ------------------------------------------


async def _default_workflow(request: Request, session: Any, principal: Principal) -> uuid.UUID:
    pairs = await service.list_workflows(platform_of(request).db, session, principal)
    for workflow, template in pairs:
        if template.name == NANO_BANANA:
            return workflow.id
    for workflow, template in pairs:
        if template.kind == "image_batch":
            return workflow.id
    raise NotFound("This client has no image workflow.")


async def _job_out(request: Request, session: Any, execution: WorkflowExecution) -> JobOut:
    (item,) = await executions.batch_results(session, execution.id)
    return JobOut(
        id=execution.id,
        status=execution.status,
        prompt=item.prompt,
        workflow_id=execution.workflow_id,
        aspect_ratio=item.aspect_ratio,
        credits_reserved=execution.credits_reserved,
        credits_refunded=execution.credits_refunded,
        attempts=item.attempts,
        error=item.error if item.status != "completed" else None,
        error_code=item.error_code if item.status != "completed" else None,
        image_id=item.image_id,
        download_url=(
            signed_url(platform_of(request), item.image_id, download=True)
            if item.image_id and item.status == "completed"
            else None
        ),
        created_at=execution.created_at,
        completed_at=execution.completed_at,
    )


@router.post(
    "/api/v1/jobs",
    status_code=202,
    response_model=JobOut,
    responses=answers(
        {
            402: "Not enough credits (`insufficient_credits`).",
            409: ("This Idempotency-Key was used with another body (`idempotency_key_reused`)."),
            429: "More generations an hour than the platform allows (`rate_limited`).",
        }
    ),
)
async def create_job(
    body: JobIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Executor,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Generate one image (seed 001's jobs API); poll ``GET /api/v1/jobs/{id}``."""
    platform = platform_of(request)
    guard = idempotency.Guard(
        session, principal.client_id, "jobs", idempotency_key, body.model_dump(mode="json")
    )
    if (replay := await guard.replay()) is not None:
        response.status_code = replay.status_code
        response.headers["Idempotent-Replayed"] = "true"  # Stripe's name: a client can tell
        return replay.response
    await check_hourly(request, principal, "generations_per_hour")
    try:
        (item,) = parse_items(
            [body.prompt], None, max_items=1, max_chars=platform.settings.studio_max_prompt_chars
        )
    except PromptError as error:
        raise Unprocessable(str(error), code=error.code) from None
    workflow_id = body.workflow_id or await _default_workflow(request, session, principal)
    execution = await executions.create_execution(
        platform,
        session,
        principal,
        executions.NewExecution(
            workflow_id=workflow_id,
            items=[Item(item.prompt, body.aspect_ratio)],
            reference_image_ids=body.reference_image_ids,
            config={},
            kind="job",
        ),
    )
    out = await _job_out(request, session, execution)
    await guard.remember(202, out.model_dump(mode="json"))
    return out


@router.get("/api/v1/jobs/{job_id}", response_model=JobOut)
async def get_job(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: WorkflowReader
) -> JobOut:
    """A job's state, with ``download_url`` (signed, one hour) once it is done."""
    execution = await executions.get_execution(session, principal, job_id)
    if execution.kind != "job":
        raise NotFound("No such job.")
    return await _job_out(request, session, execution)
