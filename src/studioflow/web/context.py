"""What every signed-in page shows: who is looking, their workspaces, the active one, and
how many notifications wait (the bell in the top bar: things to act on, and unread in-app
notifications)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing import credits, requests
from studioflow.clients import service as clients
from studioflow.identity.auth import Principal
from studioflow.notifications import service as told


async def notifications(session: AsyncSession, principal: Principal) -> list[dict[str, str]]:
    """What needs the user's attention now: for platform admins, open credit requests; for a
    workspace out of credits, how to get more. Each is a sentence and where to act."""
    items: list[dict[str, str]] = []
    if principal.is_platform_admin:
        waiting = await requests.open_count(session)
        if waiting:
            noun = "request" if waiting == 1 else "requests"
            items.append(
                {
                    "text": f"{waiting} credit {noun} from workspaces wait for an answer.",
                    "href": "/admin/credits",
                    "action": "Answer",
                }
            )
    if principal.can("billing:read"):
        balance = await credits.peek_balance(session, principal.client_id)
        if balance == 0:
            items.append(
                {
                    "text": "This workspace is out of credits: the studio cannot run.",
                    "href": "/credits#ask",
                    "action": "Get more" if principal.can("billing:manage") else "Ask an owner",
                }
            )
    return items


async def base_context(principal: Principal, session: AsyncSession) -> dict[str, Any]:
    memberships = await clients.my_clients(session, principal.user_id)
    active = next((c for c, _ in memberships if c.id == principal.client_id), None)
    waiting = await notifications(session, principal)
    unread = await told.unread_count(session, principal.user_id)
    return {
        "principal": principal,
        "user": principal.user,
        "memberships": memberships,
        "active_client": active,
        "notifications": waiting,
        "unread_count": unread,
        # The bell counts what needs acting on and what the user has not read.
        "notification_count": len(waiting) + unread,
    }
