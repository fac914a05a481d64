"""Platform-wide listings for administrators (API.md: /api/v1/admin/…)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from studioflow.admin import (
    analytics,
    clients,
    errors,
    finances,
    flags,
    jobs,
    service,
    site,
    users,
)
from studioflow.admin.ranges import day_range
from studioflow.admin.schemas import (
    AdminApiKey,
    AdminClient,
    AdminClientOverview,
    AdminMemberIn,
    AdminRoleIn,
    AdminSession,
    AdminUser,
    AdminUserDetail,
    AdminUserIn,
    AdminUserUpdate,
    AnalyticsOut,
    ClientPlanIn,
    DeletionOut,
    ErrorGroup,
    ErrorsOut,
    FinancesOut,
    FlagIn,
    FlagOut,
    JobOut,
    PlanOut,
    PlanUpdate,
    PublicFlagsOut,
    QueuesOut,
    SettingOut,
    SettingsIn,
    SettingsOut,
)
from studioflow.clients.schemas import ActivityOut, MemberOut
from studioflow.identity.auth import PlatformAdmin, optional_principal, platform_of
from studioflow.identity.context import context_of
from studioflow.models import ExecutionStatus, Membership, Plan, User
from studioflow.platform import flags as platform_flags
from studioflow.platform.db import ReadSessionDep, SessionDep
from studioflow.platform.errors import Unprocessable, answers
from studioflow.platform.pagination import (
    Page,
    PageParams,
    page_params,
)
from studioflow.studio.schemas import ExecutionOut, WorkflowOut, execution_out
from studioflow.support import service as support
from studioflow.support.schemas import Priority as TicketPriorityName
from studioflow.support.schemas import (
    StaffMessageIn,
    StaffMessageOut,
    StaffTicketDetail,
    StaffTicketOut,
    TicketOut,
    TicketUpdate,
)
from studioflow.support.schemas import Status as TicketStatusName

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
public_router = APIRouter(tags=["flags"])


@router.get("/users", response_model=Page[AdminUser])
async def admin_users(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AdminUser]:
    """Every account, newest first; ``q`` finds by email, username or name."""
    found, cursor = await users.search(session, params, q)
    return Page(
        items=[AdminUser.model_validate(u) for u in found],
        next_cursor=cursor,
    )


@router.post(
    "/users",
    status_code=201,
    response_model=AdminUser,
    responses=answers({409: "The email address or username is taken (`conflict`)."}),
)
async def admin_invite_user(
    body: AdminUserIn, principal: PlatformAdmin, request: Request, session: SessionDep
) -> AdminUser:
    """Make an account and email its address a link (valid 7 days) to choose a password."""
    user = await users.invite(
        platform_of(request), session, principal, context_of(request), body.model_dump()
    )
    return AdminUser.model_validate(user)


def user_detail(found: users.UserPicture) -> AdminUserDetail:
    return AdminUserDetail.model_validate(
        {
            **AdminUser.model_validate(found.user).model_dump(),
            "email_verified_at": found.user.email_verified_at,
            "memberships": [
                {
                    "client_id": client.id,
                    "name": client.name,
                    "role": role,
                    "personal": client.personal_owner_id == found.user.id,
                }
                for client, role in found.memberships
            ],
            "sessions": [AdminSession.model_validate(s) for s in found.sessions],
            "api_keys": [AdminApiKey.model_validate(k) for k in found.api_keys],
        }
    )


@router.get("/users/{user_id}", response_model=AdminUserDetail)
async def admin_user(
    user_id: uuid.UUID, principal: PlatformAdmin, session: SessionDep
) -> AdminUserDetail:
    """One account: profile, workspaces and roles, live sessions, API keys."""
    return user_detail(await users.picture(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=AdminUserDetail,
    responses=answers(
        {
            409: "Yourself or the last admin (`self_change`, `last_admin`), or the username "
            "is taken (`username_taken`)."
        }
    ),
)
async def admin_update_user(
    user_id: uuid.UUID,
    body: AdminUserUpdate,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> AdminUserDetail:
    """Edit the profile and platform role; ``is_active: false`` blocks the account (its
    sessions end at once, its keys are refused, sign-in answers 403 ``account_blocked``)."""
    await users.update(
        session, principal, context_of(request), user_id, body.model_dump(exclude_unset=True)
    )
    return user_detail(await users.picture(session, user_id))


@router.delete(
    "/users/{user_id}",
    status_code=202,
    response_model=DeletionOut,
    responses=answers(
        {
            409: "Yourself, the last admin (`self_change`, `last_admin`), or the only owner "
            "of a workspace with other members (`last_owner`)."
        }
    ),
)
async def admin_delete_user(
    user_id: uuid.UUID,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
    now: bool = False,
) -> DeletionOut:
    """Start the 7-day deletion (the owner is emailed and may cancel), or ``?now=true``:
    delete the account, its personal workspace and its files at once."""
    when = await users.delete(
        platform_of(request), session, principal, context_of(request), user_id, now=now
    )
    return DeletionOut(delete_after=when)


@router.get("/clients", response_model=Page[AdminClient])
async def admin_clients(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AdminClient]:
    """Every client with its member count, credits and storage, newest first; ``q`` finds
    by name."""
    page, cursor = await clients.search(session, params, q)
    return Page(
        items=[
            AdminClient.with_members(row.client, row.members).model_copy(
                update={"credits": row.credits, "storage_bytes": row.storage_bytes}
            )
            for row in page
        ],
        next_cursor=cursor,
    )


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut.model_validate(plan)


@router.get("/plans", response_model=Page[PlanOut])
async def admin_plans(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[PlanOut]:
    """The plans and their limits, smallest first."""
    plans, cursor = await service.plans(session, params)
    return Page(items=[plan_out(p) for p in plans], next_cursor=cursor)


@router.patch("/plans/{name}", response_model=PlanOut)
async def admin_update_plan(
    name: str, body: PlanUpdate, principal: PlatformAdmin, request: Request, session: SessionDep
) -> PlanOut:
    """Change a plan's limits (they apply to its clients at once)."""
    plan = await service.update_plan(
        session,
        name,
        body.model_dump(exclude_unset=True),
        principal=principal,
        context=context_of(request),
    )
    return plan_out(plan)


@router.patch("/clients/{client_id}", response_model=AdminClient)
async def admin_set_client_plan(
    client_id: uuid.UUID,
    body: ClientPlanIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> AdminClient:
    """Move a client to another plan."""
    client, members = await service.move_client(
        session, principal, context_of(request), client_id, body.plan
    )
    return AdminClient.with_members(client, members)


@router.get("/jobs", response_model=QueuesOut)
async def admin_jobs(principal: PlatformAdmin, request: Request) -> QueuesOut:
    """Each job queue: workers, depth by state, and up to 25 running or waiting jobs (never
    their arguments)."""
    return QueuesOut.model_validate({"queues": await jobs.queues(platform_of(request))})


@router.post(
    "/jobs/{queue}/{job_key}/abort",
    status_code=202,
    response_model=JobOut,
    responses=answers({404: "No such queue or job.", 409: "The job has finished (`conflict`)."}),
)
async def abort_job(
    queue: str, job_key: str, principal: PlatformAdmin, request: Request, session: SessionDep
) -> JobOut:
    """Abort a job that has not finished: a waiting one never runs, a running one is
    cancelled by its worker within seconds. An image-generation slice hands its batch back
    (cancel a run from its own page to stop it)."""
    job = await jobs.abort(platform_of(request), session, principal, queue, job_key)
    return JobOut.model_validate(job)


@router.get("/clients/{client_id}", response_model=AdminClientOverview)
async def admin_client(
    client_id: uuid.UUID, principal: PlatformAdmin, request: Request, session: SessionDep
) -> AdminClientOverview:
    """A client's overview: plan, credits, storage, members, and the last 30 days'
    executions, items and success rate."""
    found = await clients.overview(platform_of(request).db, session, client_id)
    return AdminClientOverview(
        id=found.client.id,
        name=found.client.name,
        plan=found.client.plan,
        personal=found.client.personal_owner_id is not None,
        created_at=found.client.created_at,
        members=found.members,
        credits=found.credits,
        storage_used=found.storage_used,
        executions_30d=found.executions_30d,
        items_completed_30d=found.items_completed_30d,
        items_failed_30d=found.items_failed_30d,
        success_rate_30d=found.success_rate_30d,
    )


def member_out(membership: Membership, user: User) -> MemberOut:
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or None
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=name,
        role=membership.role,
        joined_at=membership.created_at,
    )


@router.get("/clients/{client_id}/members", response_model=Page[MemberOut])
async def admin_client_members(
    client_id: uuid.UUID, principal: PlatformAdmin, session: SessionDep
) -> Page[MemberOut]:
    """A client's members, oldest first (one page: a team's members)."""
    rows = await clients.members(session, principal, client_id)
    return Page(items=[member_out(m, u) for m, u in rows], next_cursor=None)


@router.post(
    "/clients/{client_id}/members",
    status_code=201,
    response_model=MemberOut,
    responses=answers(
        {409: "Already a member (`already_member`), or a personal workspace (`personal_client`)."}
    ),
)
async def admin_add_member(
    client_id: uuid.UUID,
    body: AdminMemberIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> MemberOut:
    """Put an existing account (``user_id``, or ``email``) in a team client directly,
    without an invitation."""
    membership = await clients.add_member(
        session,
        principal,
        context_of(request),
        client_id,
        user_id=body.user_id,
        email=body.email,
        role=body.role,
    )
    return member_out(membership, await users.get(session, membership.user_id))


@router.patch(
    "/clients/{client_id}/members/{user_id}",
    response_model=MemberOut,
    responses=answers({409: "The client's last owner (`last_owner`)."}),
)
async def admin_change_member_role(
    client_id: uuid.UUID,
    user_id: uuid.UUID,
    body: AdminRoleIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> MemberOut:
    """Change a member's role."""
    membership = await clients.change_role(
        session, principal, context_of(request), client_id, user_id, body.role
    )
    return member_out(membership, await users.get(session, user_id))


@router.delete(
    "/clients/{client_id}/members/{user_id}",
    status_code=204,
    responses=answers({409: "The last owner (`last_owner`), or someone's own personal workspace."}),
)
async def admin_remove_member(
    client_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> Response:
    """Remove a member; their keys in the client are revoked."""
    await clients.remove_member(session, principal, context_of(request), client_id, user_id)
    return Response(status_code=204)


@router.get("/clients/{client_id}/workflows", response_model=Page[WorkflowOut])
async def admin_client_workflows(
    client_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[WorkflowOut]:
    """A client's active workflows by name (assign with POST on this path)."""
    pairs, cursor = await clients.workflows(session, client_id, params)
    return Page(items=[WorkflowOut.of(w, t) for w, t in pairs], next_cursor=cursor)


@router.get("/clients/{client_id}/executions", response_model=Page[ExecutionOut])
async def admin_client_executions(
    client_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[ExecutionStatus | None, Query()] = None,
    workflow_id: uuid.UUID | None = None,
) -> Page[ExecutionOut]:
    """A client's executions, newest first (``?status=``, ``?workflow_id=``)."""
    rows, cursor = await clients.executions(
        session,
        principal,
        client_id,
        params,
        status=status.value if status else None,
        workflow_id=workflow_id,
    )
    return Page(items=[execution_out(e) for e in rows], next_cursor=cursor)


@router.get("/clients/{client_id}/activity", response_model=Page[ActivityOut])
async def admin_client_activity(
    client_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ActivityOut]:
    """A client's audit timeline, newest first."""
    events, cursor = await clients.activity(session, principal, client_id, params)
    return Page(items=[ActivityOut.model_validate(e) for e in events], next_cursor=cursor)


@router.get("/flags", response_model=Page[FlagOut])
async def admin_flags(principal: PlatformAdmin, session: SessionDep) -> Page[FlagOut]:
    """Every feature flag, by key."""
    rows = await flags.listed(session)
    return Page(items=[FlagOut.model_validate(r) for r in rows], next_cursor=None)


@router.put("/flags/{key}", response_model=FlagOut)
async def admin_put_flag(
    key: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")],
    body: FlagIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> FlagOut:
    """Create or change a flag: on or off, public or not, the share of users who get it,
    the workspaces that get it whatever the share. Takes effect in this process at once,
    in the others within 5 seconds."""
    row = await flags.put(
        platform_of(request), session, principal, context_of(request), key, body.model_dump()
    )
    return FlagOut.model_validate(row)


@router.get(
    "/analytics",
    response_model=AnalyticsOut,
    responses=answers({422: "`from` after `to`, or more than 366 days (`invalid_range`)."}),
)
async def admin_analytics(
    principal: PlatformAdmin,
    request: Request,
    session: ReadSessionDep,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query()] = None,
) -> dict[str, Any]:
    """The dashboard's figures over a range of days (UTC, both included; default the last
    30): cards, a trend of every day, the busiest workflows and workspaces, the latest
    failed runs. Revenue is the credits spent (less refunds) at the platform's credit
    price (settings)."""
    platform = platform_of(request)
    return await analytics.dashboard(
        session, platform.db.dialect, day_range(from_, to), await platform.site.get()
    )


@router.get(
    "/finances",
    response_model=FinancesOut,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv`."},
        **answers({422: "`from` after `to`, or more than 366 days (`invalid_range`)."}),
    },
)
async def admin_finances(
    principal: PlatformAdmin,
    request: Request,
    session: ReadSessionDep,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query()] = None,
    group_by: Literal["day", "client", "workflow"] = "day",
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Credits granted, spent and refunded, provider cost, revenue and margin by day,
    workspace or workflow, with totals; ``format=csv`` downloads the same rows."""
    platform = platform_of(request)
    days = day_range(from_, to)
    found = await finances.report(
        session, platform.db.dialect, days, group_by, await platform.site.get()
    )
    if format == "csv":
        name = f"studioflow-finances-{group_by}-{days.first}-{days.last}.csv"
        return Response(
            finances.as_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return found


@router.get("/settings", response_model=SettingsOut)
async def admin_settings(
    principal: PlatformAdmin, request: Request, session: SessionDep
) -> SettingsOut:
    """Every platform setting: its value in force, its default and whether an admin changed
    it. Provider keys are write-only: only whether one is set and its last characters."""
    found = await site.described(platform_of(request), session)
    return SettingsOut(settings=[SettingOut.model_validate(s) for s in found])


@router.put(
    "/settings",
    response_model=SettingsOut,
    responses=answers(
        {
            422: "An unknown setting (`unknown_setting`) or a value out of its bounds "
            "(`invalid_setting`, with `setting`); nothing is changed."
        }
    ),
)
async def admin_put_settings(
    body: SettingsIn, principal: PlatformAdmin, request: Request, session: SessionDep
) -> SettingsOut:
    """Change some settings at once (all checked before any is written; null: back to the
    default). Every process uses the new values within moments (the event bus; at the
    latest a minute). Each change is an audit entry (a key's, without the key)."""
    platform = platform_of(request)
    await site.change(platform, session, principal, context_of(request), body.root)
    found = await site.described(platform, session)
    return SettingsOut(settings=[SettingOut.model_validate(s) for s in found])


@public_router.get("/api/v1/flags", response_model=PublicFlagsOut)
async def public_flags(request: Request, session: SessionDep) -> PublicFlagsOut:
    """The public feature flags, no sign-in needed; with a session (or key), each decided
    for that user and workspace (rollout and allow-list)."""
    reader = await optional_principal(request, session)
    return PublicFlagsOut(flags=await platform_flags.public_flags(platform_of(request).db, reader))


def staff_ticket(thread: support.Thread) -> StaffTicketDetail:
    return StaffTicketDetail.model_validate(
        {
            **TicketOut.model_validate(thread.ticket).model_dump(),
            "client_name": thread.client_name,
            "messages": [StaffMessageOut.model_validate(m) for m in thread.messages],
        }
    )


@router.get("/support-tickets", response_model=Page[StaffTicketOut])
async def admin_tickets(
    principal: PlatformAdmin,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[TicketStatusName | None, Query()] = None,
    priority: Annotated[TicketPriorityName | None, Query()] = None,
    assignee: Annotated[str | None, Query(description="a user id, `me` or `none`")] = None,
) -> Page[StaffTicketOut]:
    """Every workspace's tickets, newest first (``?status=&priority=&assignee=``)."""
    assignee_id: uuid.UUID | None = None
    if assignee == "me":
        assignee_id = principal.user_id
    elif assignee not in (None, "", "none"):
        try:
            assignee_id = uuid.UUID(str(assignee))
        except ValueError:
            raise Unprocessable("assignee is a user id, me or none.") from None
    rows, cursor = await support.queue(
        session,
        params,
        status=status,
        priority=priority,
        assignee=assignee_id,
        unassigned=assignee == "none",
    )
    return Page(
        items=[
            StaffTicketOut.model_validate(
                {**TicketOut.model_validate(t).model_dump(), "client_name": name}
            )
            for t, name in rows
        ],
        next_cursor=cursor,
    )


@router.get("/support-tickets/{ticket_id}", response_model=StaffTicketDetail)
async def admin_ticket(
    ticket_id: uuid.UUID, principal: PlatformAdmin, session: SessionDep
) -> StaffTicketDetail:
    """A ticket with every message, internal notes included."""
    return staff_ticket(await support.staff_thread(session, ticket_id))


@router.patch(
    "/support-tickets/{ticket_id}",
    response_model=StaffTicketDetail,
    responses=answers({409: "The state cannot go there from here (`invalid_transition`)."}),
)
async def admin_update_ticket(
    ticket_id: uuid.UUID,
    body: TicketUpdate,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> StaffTicketDetail:
    """Change the state, priority or assignee (an admin, or null); the opener is emailed
    when the state changes."""
    await support.update(
        platform_of(request),
        session,
        principal,
        context_of(request),
        ticket_id,
        body.model_dump(exclude_unset=True),
    )
    return staff_ticket(await support.staff_thread(session, ticket_id))


@router.post(
    "/support-tickets/{ticket_id}/messages",
    status_code=201,
    response_model=StaffMessageOut,
    responses=answers({409: "A reply on a closed ticket (`ticket_closed`)."}),
)
async def admin_ticket_message(
    ticket_id: uuid.UUID,
    body: StaffMessageIn,
    principal: PlatformAdmin,
    request: Request,
    session: SessionDep,
) -> StaffMessageOut:
    """Reply (the workspace reads it and its opener is emailed) or, with ``internal``,
    add a note only admins see."""
    message = await support.staff_reply(
        platform_of(request),
        session,
        principal,
        ticket_id,
        body=body.body,
        internal=body.internal,
        image_ids=body.image_ids,
        context=context_of(request),
    )
    return StaffMessageOut.model_validate(message)


@router.get("/errors", response_model=ErrorsOut)
async def admin_errors(
    principal: PlatformAdmin,
    session: SessionDep,
    since: Annotated[date | None, Query(alias="from")] = None,
    kind: Annotated[Literal["execution", "item", "request"] | None, Query()] = None,
) -> ErrorsOut:
    """What failed since ``from`` (a date; default 7 days ago): failed runs and items by
    error code, unexpected 500s by exception type and route, each with its count and
    latest case (``?kind=`` for one of them)."""
    start = (
        datetime.combine(since, time.min, tzinfo=UTC)
        if since is not None
        else datetime.now(UTC) - timedelta(days=7)
    )
    found = await errors.groups(session, start, kind)
    return ErrorsOut(since=start, groups=[ErrorGroup.model_validate(g) for g in found])
