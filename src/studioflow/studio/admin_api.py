"""Platform admins and the studio: templates, assigning workflows, reviewing workflow requests,
and SAQ's queue monitor (mounted at ``/admin/queues``, admins only)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from studioflow.identity.auth import PlatformAdmin, resolve_principal
from studioflow.models import WorkflowRequest, WorkflowTemplate
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import AppError, Unprocessable, answers
from studioflow.platform.pagination import (
    Page,
    PageParams,
    page_params,
)
from studioflow.platform.runtime import Platform
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
    body: TemplateIn, principal: PlatformAdmin, session: SessionDep
) -> TemplateOut:
    """A new template; with ``auto_assign`` every client gets it on its next visit."""
    _check_provider(body.provider, body.default_config)
    template = await admin.create_template(session, body.model_dump())
    return _template_out(template, 0)


@router.patch(
    "/api/v1/admin/workflow-templates/{template_id}",
    response_model=TemplateOut,
    responses=answers({409: "Another template has that name (`conflict`)."}),
)
async def update_template(
    template_id: uuid.UUID, body: TemplatePatch, principal: PlatformAdmin, session: SessionDep
) -> TemplateOut:
    """Change a template; running executions keep the price and provider they started with."""
    template = await admin.template(session, template_id)
    changes = body.model_dump(exclude_unset=True)
    _check_provider(
        changes.get("provider", template.provider),
        changes.get("default_config", template.default_config),
    )
    template = await admin.update_template(session, template, changes)
    return _template_out(template, await admin.usage(session, template))


@router.post(
    "/api/v1/admin/clients/{client_id}/workflows", response_model=AssignedOut, status_code=201
)
async def assign_to_client(
    client_id: uuid.UUID, body: AssignIn, principal: PlatformAdmin, session: SessionDep
) -> AssignedOut:
    """Give a client a workflow made from a template (with its own config overrides)."""
    template = await admin.template(session, body.template_id)
    _check_provider(template.provider, body.config_overrides)
    workflow, template = await admin.assign(
        session, client_id, body.template_id, body.name, body.config_overrides
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
    request_id: uuid.UUID, body: ReviewIn, principal: PlatformAdmin, session: SessionDep
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
    return request_out(row)


# --- SAQ's queue monitor -----------------------------------------------------------------


class AdminOnly:
    """Lets platform admins (signed in with the session cookie) through to ``app``; everyone
    else gets a 404, as if nothing were there. Writes must come from our own origin."""

    def __init__(self, app: ASGIApp, platform: Platform, csp: str) -> None:
        self.app = app
        self.platform = platform
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        allowed = False
        async with self.platform.db.read() as session:
            try:
                principal = await resolve_principal(
                    request, Response(), session, allow_api_key=False
                )
                allowed = principal.is_platform_admin
            except AppError:
                allowed = False
        origin = request.headers.get("origin")
        if request.method not in {"GET", "HEAD"} and origin not in {None, self._origin(request)}:
            allowed = False
        if not allowed:
            response = Response(status_code=404, content="Not found", media_type="text/plain")
            await response(scope, receive, send)
            return

        async def send_with_csp(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-security-policy"
                ]
                headers.append((b"content-security-policy", self.csp.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_csp)

    @staticmethod
    def _origin(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"


MONITOR_PATH = "/admin/queues"


def queue_monitor(platform: Platform) -> ASGIApp:
    from saq.web.starlette import saq_web

    # SAQ's page has one inline script (its root path): allowed by its hash, nothing else.
    inline = f'const root_path = "{MONITOR_PATH}";'
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    csp = (
        f"default-src 'self'; script-src 'self' 'sha256-{digest}'; style-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    )
    monitor = saq_web(MONITOR_PATH, queues=list(platform.queue.queues.values()))
    return AdminOnly(monitor, platform, csp)
