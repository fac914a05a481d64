"""Pages of the active workspace as a whole: where sign-in lands, the dashboard, its
notifications and its settings (provider keys, image defaults)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioflow.billing import credits, requests
from studioflow.billing.plans import plan_of
from studioflow.clients import service as clients
from studioflow.media import service as media
from studioflow.media.urls import signed_url
from studioflow.notifications import service as told
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.studio import executions
from studioflow.studio import service as studio
from studioflow.studio.settings_view import settings_out
from studioflow.web.auth import Page, PageView, html_errors
from studioflow.web.badges import BADGES
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
AnyPage = Annotated[PageView, Depends(Page())]
SettingsPage = Annotated[PageView, Depends(Page("settings:read"))]
# Until the admin console of issue 15 lands, the studio's admin page is its front door.
ADMIN_HOME = "/admin/studio"


def landing_for(page: PageView) -> str:
    """Where a user lands after signing in: platform admins on the admin console, everyone
    else on the dashboard of their workspace."""
    return ADMIN_HOME if page.principal.is_platform_admin else "/dashboard"


@router.get("/start")
async def start(page: AnyPage) -> Response:
    return RedirectResponse(landing_for(page), status_code=303)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, session: SessionDep, page: AnyPage) -> Response:
    principal, context = page.principal, page.context
    platform = request.app.state.platform
    client_id = principal.client_id
    plan = await plan_of(session, client_id)
    context.update(plan=plan)
    if principal.can("images:read"):
        images, _ = await media.list_images(session, principal, PageParams(limit=8))
        context.update(
            recent_images=[
                (image, signed_url(platform, image.id, size="thumb", relative=True))
                for image in images
            ],
            storage_used=await media.storage_used(session, client_id),
            uploads_today=await media.uploads_today(session, client_id),
        )
    if principal.can("workflows:read"):
        runs, _ = await executions.list_executions(session, principal, PageParams(limit=5))
        workflows = await studio.list_workflows(platform.db, session, principal)
        context.update(
            recent_runs=runs,
            badges=BADGES,
            workflow_names={workflow.id: workflow.name for workflow, _ in workflows},
        )
    if principal.can("billing:read"):
        context.update(balance=await credits.balance(platform.db, session, client_id))
    return render(request, "workspace/dashboard.html", context)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, session: SessionDep, page: SettingsPage) -> Response:
    principal, context = page.principal, page.context
    client = await clients.get_client(session, principal)
    context.update(
        client=client,
        settings=settings_out(request, principal, client.settings),
        can_update=principal.can("settings:update"),
    )
    return render(request, "workspace/settings.html", context)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(
    request: Request, session: SessionDep, page: AnyPage, cursor: str | None = None
) -> Response:
    principal, context = page.principal, page.context
    if principal.can("billing:read"):
        context.update(
            answered=[
                r for r in await requests.of_workspace(session, principal) if r.status != "open"
            ][:5]
        )
    items, cursor, _ = await told.listed(
        session, principal.user_id, PageParams(limit=30, cursor=cursor), unread=False
    )
    context.update(told=items, next_cursor=cursor)
    return render(request, "workspace/notifications.html", context)
