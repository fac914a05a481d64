"""Pages of the platform admins' console: the credit requests of every workspace and
grants from the page, and the job queues (the console grows here with the admin issue)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

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


def _when(milliseconds: Any) -> str:
    if not milliseconds:
        return ""
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@router.get("/admin/jobs", response_class=HTMLResponse)
async def jobs(request: Request, page: AdminPage) -> Response:
    """The queues in the shell: workers, depth by state and the jobs running or waiting,
    read through SAQ's public ``Queue.info``. Job arguments are not shown (they are the
    tasks' business, and mail travels sealed anyway)."""
    context = page.context
    queues = []
    for name, queue in request.app.state.platform.queue.queues.items():
        info = await queue.info(jobs=True, limit=25)
        queues.append(
            {
                "name": name,
                "saq_name": info["name"],
                "workers": len(info["workers"]),
                "queued": info["queued"],
                "active": info["active"],
                "scheduled": info["scheduled"],
                "jobs": [
                    {
                        "function": job.get("function", ""),
                        "status": str(getattr(job.get("status"), "value", job.get("status"))),
                        "attempts": job.get("attempts", 0),
                        "queued": _when(job.get("queued")),
                        "started": _when(job.get("started")),
                        "error": (job.get("error") or "").strip().splitlines()[-1:][0][:200]
                        if job.get("error")
                        else "",
                    }
                    for job in info["jobs"]
                ],
            }
        )
    context.update(queues=queues)
    return render(request, "admin/jobs.html", context)
