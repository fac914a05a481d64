"""What platform admins do across tenants: list users and clients, edit plans, move a
client to another plan. Callers have been authorised as platform admins."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.admin.repository import AdminRepository
from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.models import Client, Plan
from studioflow.platform.errors import NotFound, Unprocessable
from studioflow.platform.pagination import PageParams


async def clients(
    session: AsyncSession, params: PageParams
) -> tuple[list[tuple[Client, int]], str | None]:
    return await AdminRepository(session).clients(params)


async def plans(session: AsyncSession, params: PageParams) -> tuple[list[Plan], str | None]:
    return await AdminRepository(session).plans(params)


async def update_plan(
    session: AsyncSession,
    name: str,
    changes: dict[str, Any],
    *,
    principal: Principal | None = None,
    context: Context | None = None,
) -> Plan:
    """Change a plan's limits; they apply to its clients at once. Audited as the admin's
    (``principal``), or as Studioflow's own change without one (the CLI, a migration)."""
    plan = await AdminRepository(session).plan(name)
    if plan is None:
        raise NotFound("No such plan.")
    changed = {}
    for field, value in changes.items():
        if value is not None and getattr(plan, field) != value:
            changed[field] = value
            setattr(plan, field, value)
    await session.flush()
    if changed and principal is not None and context is not None:
        await audit.by_principal(
            session, "admin.plan_changed", principal, context, plan=name, **changed
        )
    elif changed:
        await audit.record(
            session, "admin.plan_changed", actor_label="Studioflow", plan=name, **changed
        )
    return plan


async def move_client(
    session: AsyncSession,
    principal: Principal,
    context: Context,
    client_id: uuid.UUID,
    plan_name: str,
) -> tuple[Client, int]:
    """Move a client to another plan: the client and its member count. Audited on the
    client's timeline."""
    admin = AdminRepository(session)
    client = await admin.client(client_id)
    if client is None:
        raise NotFound("No such client.")
    if await admin.plan(plan_name) is None:
        raise Unprocessable(f"No plan named {plan_name!r}.")
    before = client.plan
    client.plan = plan_name
    await session.flush()
    if before != plan_name:
        await audit.by_principal(
            session,
            "admin.plan_moved",
            principal,
            context,
            client_id=client.id,
            old=before,
            plan=plan_name,
        )
    return client, await admin.members_of(client.id)
