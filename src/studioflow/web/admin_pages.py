"""Pages of the platform admins' console: accounts (find, invite, edit, block, delete),
workspaces (overview, plan and credits, members, workflows, runs, activity),
the credit requests of every workspace and grants from the page, and the job queues (the
console grows here with the admin issue)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from studioflow.admin import analytics as admin_analytics
from studioflow.admin import clients as admin_clients
from studioflow.admin import errors as admin_errors
from studioflow.admin import finances as admin_finances
from studioflow.admin import flags as admin_flags
from studioflow.admin import jobs as admin_jobs
from studioflow.admin import service as admin
from studioflow.admin import site as admin_site
from studioflow.admin import users as admin_users
from studioflow.admin.ranges import MAX_DAYS, DayRange, day_range
from studioflow.billing import requests
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.support import service as support
from studioflow.web import charts
from studioflow.web.auth import Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
AdminPage = Annotated[PageView, Depends(Page(admin=True))]


def _days(from_: str, to: str, days: int | None) -> DayRange:
    """The page's range: ``days`` (a quick pick) ending today, or ``from``/``to``."""
    if days is not None:
        return day_range(None, None, span=days)
    try:
        first = date.fromisoformat(from_) if from_ else None
        last = date.fromisoformat(to) if to else None
    except ValueError:
        raise Unprocessable("Dates are YYYY-MM-DD.", code="invalid_range") from None
    return day_range(first, last)


@router.get("/admin", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    session: SessionDep,
    page: AdminPage,
    from_: Annotated[str, Query(alias="from", max_length=10)] = "",
    to: Annotated[str, Query(max_length=10)] = "",
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
) -> Response:
    """The platform at a glance over a range of days: cards, runs, success rate and
    revenue per day (inline SVG), the busiest workflows and workspaces, recent failures."""
    platform = request.app.state.platform
    figures = await admin_analytics.dashboard(
        session, platform.db.dialect, _days(from_, to, days), await platform.site.get()
    )
    trend = figures["trend"]
    context = page.context
    context.update(
        figures=figures,
        runs_chart=charts.bars("Runs a day", [(str(d["date"]), d["executions"]) for d in trend]),
        rate_chart=charts.line(
            "Success rate a day (items done of items finished)",
            [
                (str(d["date"]), None if d["success_rate"] is None else d["success_rate"] * 100)
                for d in trend
            ],
        ),
        revenue_chart=charts.bars(
            f"Revenue a day ({figures['cards']['revenue']['currency']})",
            [(str(d["date"]), float(d["revenue"])) for d in trend],
            fmt="{:.2f}",
        ),
    )
    return render(request, "admin/dashboard.html", context)


@router.get("/admin/finances", response_class=HTMLResponse)
async def finances_page(
    request: Request,
    session: SessionDep,
    page: AdminPage,
    from_: Annotated[str, Query(alias="from", max_length=10)] = "",
    to: Annotated[str, Query(max_length=10)] = "",
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
    group_by: admin_finances.GroupBy = "day",
) -> Response:
    """Credits, provider cost, revenue and margin by day, workspace or workflow; the CSV
    download is the API's answer with ``format=csv``."""
    platform = request.app.state.platform
    site = await platform.site.get()
    figures = await admin_finances.report(
        session,
        platform.db.dialect,
        _days(from_, to, days),
        group_by,
        site,
    )
    context = page.context
    context.update(
        figures=figures, group_by=group_by, price=site.credit_price_cents, currency=site.currency
    )
    return render(request, "admin/finances.html", context)


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


@router.get("/admin/users", response_class=HTMLResponse)
async def users(
    request: Request,
    session: SessionDep,
    page: AdminPage,
    q: str = "",
    cursor: str | None = None,
) -> Response:
    """Every account, newest first, found by email, username or name; invite from here."""
    context = page.context
    found, next_cursor = await admin_users.search(
        session, PageParams(limit=50, cursor=cursor), q[:100]
    )
    context.update(users=found, q=q[:100], next_cursor=next_cursor, now=datetime.now(UTC))
    return render(request, "admin/users.html", context)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
async def user(
    request: Request, session: SessionDep, page: AdminPage, user_id: uuid.UUID
) -> Response:
    """One account: edit, role, block or unblock, delete; its workspaces, sessions, keys."""
    context = page.context
    picture = await admin_users.picture(session, user_id)
    context.update(
        picture=picture,
        subject=picture.user,
        is_self=picture.user.id == page.principal.user_id,
    )
    return render(request, "admin/user.html", context)


@router.get("/admin/clients", response_class=HTMLResponse)
async def workspaces(
    request: Request,
    session: SessionDep,
    page: AdminPage,
    q: str = "",
    cursor: str | None = None,
) -> Response:
    """Every workspace, newest first, found by name."""
    context = page.context
    found, next_cursor = await admin_clients.search(
        session, PageParams(limit=50, cursor=cursor), q[:100]
    )
    context.update(workspaces=found, q=q[:100], next_cursor=next_cursor)
    return render(request, "admin/clients.html", context)


EXECUTION_STATES = ("queued", "processing", "completed", "failed", "cancelled")


@router.get("/admin/clients/{client_id}", response_class=HTMLResponse)
async def workspace(
    request: Request,
    session: SessionDep,
    page: AdminPage,
    client_id: uuid.UUID,
    status: str = "",
) -> Response:
    """One workspace for the admins: overview, plan and credits, members, workflows,
    executions (filtered by state) and activity."""
    context, principal = page.context, page.principal
    platform = request.app.state.platform
    overview = await admin_clients.overview(platform.db, session, client_id)
    people = await admin_clients.members(session, principal, client_id)
    workflows, _ = await admin_clients.workflows(session, client_id, PageParams(limit=100))
    state = status if status in EXECUTION_STATES else ""
    runs, _ = await admin_clients.executions(
        session, principal, client_id, PageParams(limit=25), status=state or None
    )
    events, _ = await admin_clients.activity(session, principal, client_id, PageParams(limit=25))
    plans, _ = await admin.plans(session, PageParams(limit=50))
    context.update(
        overview=overview,
        workspace=overview.client,
        people=people,
        names={user.id: user.first_name for _, user in people if user.first_name},
        owners=sum(1 for membership, _ in people if membership.role == "owner"),
        workflows=workflows,
        workflow_names={workflow.id: workflow.name for workflow, _ in workflows},
        templates=await admin_clients.assignable_templates(session),
        runs=runs,
        status=state,
        states=EXECUTION_STATES,
        events=events,
        plans=plans,
    )
    return render(request, "admin/client.html", context)


@router.get("/admin/settings", response_class=HTMLResponse)
async def settings(request: Request, session: SessionDep, page: AdminPage) -> Response:
    """The platform's settings (sign-up, plans, banner, limits, provider keys, credit price)
    and feature flags (on or off, public, share of users, the workspaces that get them
    whatever the share)."""
    context = page.context
    plans, _ = await admin.plans(session, PageParams(limit=100))
    context.update(
        flags=await admin_flags.listed(session),
        settings=await admin_site.described(request.app.state.platform, session),
        plan_names=[p.name for p in plans],
    )
    return render(request, "admin/settings.html", context)


TICKET_STATES = ("open", "in_progress", "waiting_on_client", "resolved", "closed")


@router.get("/admin/tickets", response_class=HTMLResponse)
async def tickets(
    request: Request,
    session: SessionDep,
    page: AdminPage,
    status: str = "",
    priority: str = "",
    mine: str = "",
    cursor: str | None = None,
) -> Response:
    """Every workspace's support tickets, filtered by state, priority and "mine"."""
    context = page.context
    state = status if status in TICKET_STATES else ""
    level = priority if priority in ("low", "normal", "high", "urgent") else ""
    rows, next_cursor = await support.queue(
        session,
        PageParams(limit=50, cursor=cursor),
        status=state or None,
        priority=level or None,
        assignee=page.principal.user_id if mine else None,
    )
    context.update(
        tickets=rows,
        next_cursor=next_cursor,
        status=state,
        priority=level,
        mine=bool(mine),
        statuses=TICKET_STATES,
    )
    return render(request, "admin/tickets.html", context)


@router.get("/admin/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket(
    request: Request, session: SessionDep, page: AdminPage, ticket_id: uuid.UUID
) -> Response:
    """A ticket with every message and internal note; state, priority, assignee; reply."""
    thread = await support.staff_thread(session, ticket_id)
    admins, _ = await admin_users.search(session, PageParams(limit=200), None)
    page.context.update(
        ticket=thread.ticket,
        messages=thread.messages,
        client_name=thread.client_name,
        staff=True,
        statuses=TICKET_STATES,
        admins=[u for u in admins if u.platform_role == "admin" and u.is_active],
        back="/admin/tickets",
        back_label="All tickets",
    )
    return render(request, "support/thread.html", page.context)


@router.get("/admin/plans", response_class=HTMLResponse)
async def plans(request: Request, session: SessionDep, page: AdminPage) -> Response:
    """The plans and their limits, each editable (changes apply to its workspaces at once)."""
    found, _ = await admin.plans(session, PageParams(limit=50))
    page.context.update(plans=found)
    return render(request, "admin/plans.html", page.context)


@router.get("/admin/errors", response_class=HTMLResponse)
async def errors(request: Request, session: SessionDep, page: AdminPage, days: int = 7) -> Response:
    """What failed in the last days: runs and items by error code, unexpected 500s."""
    span = days if days in (1, 7, 30) else 7
    found = await admin_errors.groups(session, datetime.now(UTC) - timedelta(days=span), None)
    page.context.update(
        groups={kind: [g for g in found if g["kind"] == kind] for kind in admin_errors.KINDS},
        days=span,
    )
    return render(request, "admin/errors.html", page.context)
