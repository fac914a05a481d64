"""Pages of the platform admins' console: the credit requests of every workspace and
grants from the page, and the job queues (the console grows here with the admin issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from studioflow.admin import jobs as admin_jobs
from studioflow.admin import service as admin
from studioflow.billing import requests
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.web.auth import Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
AdminPage = Annotated[PageView, Depends(Page(admin=True))]


@router.get("/admin/credits", response_class=HTMLResponse)
async def credit_requests(
    request: Request, session: SessionDep, page: AdminPage, cursor: str | None = None
) -> Response:
    context = page.context
    waiting, _ = await requests.all_workspaces(session, PageParams(limit=100), status="open")
    answered, next_cursor = await requests.all_workspaces(
        session, PageParams(limit=25, cursor=cursor), status=None
    )
    workspaces, _ = await admin.clients(session, PageParams(limit=200))
    context.update(
        waiting=waiting,
        answered=[(r, name) for r, name in answered if r.status != "open"],
        next_cursor=next_cursor,
        workspaces=[client for client, _ in workspaces],
    )
    return render(request, "admin/credits.html", context)


@router.get("/admin/jobs", response_class=HTMLResponse)
async def jobs(request: Request, page: AdminPage) -> Response:
    """The queues in the shell: workers, depth by state and the jobs running or waiting,
    each with its last error and an Abort button (admin/jobs.py)."""
    context = page.context
    context.update(queues=await admin_jobs.queues(request.app.state.platform))
    return render(request, "admin/jobs.html", context)
