"""Pages of support: the workspace's tickets and one ticket's thread (the admins' side is in
``admin_pages.py``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from studioflow.models import WorkflowExecution
from studioflow.platform.db import SessionDep
from studioflow.platform.pagination import PageParams
from studioflow.studio import executions
from studioflow.support import service
from studioflow.web.auth import Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
SupportPage = Annotated[PageView, Depends(Page("support:read"))]


@router.get("/support", response_class=HTMLResponse)
async def tickets(
    request: Request, session: SessionDep, page: SupportPage, cursor: str | None = None
) -> Response:
    """The workspace's tickets and the form to open one (a recent run may be named)."""
    principal, context = page.principal, page.context
    rows, next_cursor = await service.tickets(
        session, principal, PageParams(limit=50, cursor=cursor), None
    )
    runs: list[WorkflowExecution] = []
    if principal.can("workflows:read"):
        runs, _ = await executions.list_executions(session, principal, PageParams(limit=20))
    context.update(
        tickets=rows,
        next_cursor=next_cursor,
        runs=runs,
        can_write=principal.can("support:write"),
    )
    return render(request, "support/list.html", context)


@router.get("/support/{ticket_id}", response_class=HTMLResponse)
async def ticket(
    request: Request, session: SessionDep, page: SupportPage, ticket_id: uuid.UUID
) -> Response:
    """A ticket's thread as the workspace sees it (never the internal notes)."""
    thread = await service.thread(session, page.principal, ticket_id)
    page.context.update(
        ticket=thread.ticket,
        messages=thread.messages,
        client_name=thread.client_name,
        staff=False,
        back="/support",
        back_label="All tickets",
    )
    return render(request, "support/thread.html", page.context)
