"""A workspace as platform admins see it, whether or not they belong to it: the overview
(plan, credits, storage, members, the last 30 days' executions and success rate), members
(add an existing account directly, change roles, remove), workflows, executions and
activity. Reads go through each feature's service with a ``ClientScope`` of the workspace;
changes are audited on the workspace's own timeline. Callers are platform admins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.admin.repository import AdminRepository
from studioflow.billing import credits
from studioflow.clients import service as clients
from studioflow.identity import service as identity
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.media import service as media
from studioflow.models import (
    AuditEvent,
    Client,
    Membership,
    User,
    Workflow,
    WorkflowExecution,
    WorkflowTemplate,
)
from studioflow.platform.db import Database
from studioflow.platform.errors import NotFound, Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScope
from studioflow.studio import admin as studio_admin
from studioflow.studio import executions as studio_executions
from studioflow.studio import service as studio

RECENT = timedelta(days=30)


@dataclass(frozen=True)
class Overview:
    client: Client
    members: int
    credits: int
    storage_used: int
    executions_30d: int
    items_completed_30d: int
    items_failed_30d: int
    success_rate_30d: float | None


async def client(session: AsyncSession, client_id: uuid.UUID) -> Client:
    found = await AdminRepository(session).client(client_id)
    if found is None:
        raise NotFound("No such client.")
    return found


def _scope(principal: Principal, client_id: uuid.UUID) -> ClientScope:
    return ClientScope(client_id=client_id, user_id=principal.user_id)


@dataclass(frozen=True)
class Listed:
    """A workspace in the console's list: members, credits (None: no account opened yet)
    and bytes stored."""

    client: Client
    members: int
    credits: int | None
    storage_bytes: int


async def search(
    session: AsyncSession, params: PageParams, query: str | None
) -> tuple[list[Listed], str | None]:
    """A page of workspaces found by name, each with its figures (three queries a page,
    not three a workspace)."""
    page, cursor = await AdminRepository(session).clients(
        params, search=(query or "").strip()[:100] or None
    )
    ids = [client.id for client, _ in page]
    balances = await credits.balances(session, ids)
    stored = await media.storage_of(session, ids)
    return [
        Listed(client, members, balances.get(client.id), stored.get(client.id, 0))
        for client, members in page
    ], cursor


async def overview(db: Database, session: AsyncSession, client_id: uuid.UUID) -> Overview:
    found = await client(session, client_id)
    usage = await identity.usage_figures(session, client_id, datetime.now(UTC) - RECENT)
    return Overview(
        client=found,
        members=await AdminRepository(session).members_of(client_id),
        # As a member's first look would: the account opens with its starting credits.
        credits=await credits.balance(db, session, client_id),
        storage_used=await media.storage_used(session, client_id),
        executions_30d=int(usage["executions"]),
        items_completed_30d=int(usage["images_generated"]),
        items_failed_30d=int(usage["items_failed"]),
        success_rate_30d=usage["success_rate"],
    )


async def members(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> list[tuple[Membership, User]]:
    await client(session, client_id)
    return await clients.members(session, _scope(principal, client_id))


async def add_member(
    session: AsyncSession,
    principal: Principal,
    context: Context,
    client_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    email: str | None,
    role: str,
) -> Membership:
    """Put an account, named by id or email address, in a team client directly."""
    if (user_id is None) == (email is None):
        raise Unprocessable("Name the account by user_id or by email, one of them.")
    if user_id is not None:
        user = await identity.user_by_id(session, user_id)
    else:
        user = await identity.user_by_address(session, str(email))
    if user is None:
        raise NotFound("No such user.")
    return await clients.add_member(session, principal, client_id, user, role=role, context=context)


async def change_role(
    session: AsyncSession,
    principal: Principal,
    context: Context,
    client_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
) -> Membership:
    await client(session, client_id)
    return await clients.change_role(
        session, principal, user_id, role=role, context=context, client_id=client_id
    )


async def remove_member(
    session: AsyncSession,
    principal: Principal,
    context: Context,
    client_id: uuid.UUID,
    user_id: uuid.UUID,
) -> None:
    await client(session, client_id)
    await clients.remove_member(session, principal, user_id, context=context, client_id=client_id)


async def workflows(
    session: AsyncSession, client_id: uuid.UUID, params: PageParams
) -> tuple[list[tuple[Workflow, WorkflowTemplate]], str | None]:
    await client(session, client_id)
    return await studio.workflows_of(session, client_id, params)


async def executions(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    params: PageParams,
    **filters: Any,
) -> tuple[list[WorkflowExecution], str | None]:
    await client(session, client_id)
    return await studio_executions.list_executions(
        session, _scope(principal, client_id), params, **filters
    )


async def activity(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, params: PageParams
) -> tuple[list[AuditEvent], str | None]:
    await client(session, client_id)
    return await clients.activity(session, _scope(principal, client_id), params)


async def assignable_templates(session: AsyncSession) -> list[WorkflowTemplate]:
    """The active templates, by name: what the workspace page offers to assign."""
    rows, _ = await studio_admin.templates(session, PageParams(limit=200))
    return [template for template, _ in rows if template.is_active]
