"""What every signed-in page shows: who is looking, their workspaces, the active one."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.clients import service as clients
from studioflow.identity.auth import Principal


async def base_context(principal: Principal, session: AsyncSession) -> dict[str, Any]:
    memberships = await clients.my_clients(session, principal.user_id)
    active = next((c for c, _ in memberships if c.id == principal.client_id), None)
    return {
        "principal": principal,
        "user": principal.user,
        "memberships": memberships,
        "active_client": active,
    }
