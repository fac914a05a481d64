"""Every query of support tickets. A workspace reads its own tickets through
``readable(scope)``; the admins' queue reads every workspace's (their guard says so)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from studioflow.models import Client, SupportMessage, SupportTicket, TicketStatus
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope


class TicketRepository(ClientScoped[SupportTicket]):
    model = SupportTicket

    async def page(
        self, scope: Scope, params: PageParams, *, status: str | None = None
    ) -> tuple[list[SupportTicket], str | None]:
        statement = self.readable(scope)
        if status:
            statement = statement.where(SupportTicket.status == status)
        return await self.newest_first(statement, params)

    async def queue(
        self,
        params: PageParams,
        *,
        status: str | None = None,
        priority: str | None = None,
        assignee: uuid.UUID | None = None,
        unassigned: bool = False,
    ) -> tuple[list[tuple[SupportTicket, str]], str | None]:
        """Every workspace's tickets with the workspace's name, newest first (the admins')."""
        statement: Any = select(SupportTicket, Client.name).join(
            Client, Client.id == SupportTicket.client_id
        )
        if status:
            statement = statement.where(SupportTicket.status == status)
        if priority:
            statement = statement.where(SupportTicket.priority == priority)
        if assignee is not None:
            statement = statement.where(SupportTicket.assignee_id == assignee)
        if unassigned:
            statement = statement.where(SupportTicket.assignee_id.is_(None))
        rows, cursor = await self.page_by(
            statement, [SupportTicket.id], params, key=lambda row: (row[0].id,), descending=True
        )
        return [(row[0], row[1]) for row in rows], cursor

    async def get(self, ticket_id: uuid.UUID) -> SupportTicket | None:
        """A ticket of any workspace (the admins', and the job's)."""
        return await self.session.get(SupportTicket, ticket_id)

    async def any_locked(self, ticket_id: uuid.UUID) -> SupportTicket | None:
        """A ticket of any workspace, locked for a change (the admins')."""
        found: SupportTicket | None = await self.session.scalar(
            select(SupportTicket)
            .where(SupportTicket.id == ticket_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found

    async def readable_locked(self, scope: Scope, ticket_id: uuid.UUID) -> SupportTicket | None:
        found: SupportTicket | None = await self.session.scalar(
            self.readable(scope)
            .where(SupportTicket.id == ticket_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found

    async def client_name(self, client_id: uuid.UUID) -> str:
        return str(await self.session.scalar(select(Client.name).where(Client.id == client_id)))

    async def resolved_before(self, cutoff: datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(SupportTicket.id)
            .where(
                SupportTicket.status == TicketStatus.resolved, SupportTicket.resolved_at < cutoff
            )
            .limit(limit)
        )
        return list(rows.all())

    async def close_if_still_resolved(self, ticket_id: uuid.UUID, now: datetime) -> bool:
        """Close a resolved ticket, unless a reply reopened it meanwhile (a conditional
        UPDATE: the job and a client's reply cannot both win)."""
        result = await self.session.execute(
            update(SupportTicket)
            .where(SupportTicket.id == ticket_id, SupportTicket.status == TicketStatus.resolved)
            .values(status=TicketStatus.closed, closed_at=now, updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0))


class MessageRepository(Repository[SupportMessage]):
    model = SupportMessage

    async def thread(self, ticket_id: uuid.UUID, *, with_internal: bool) -> list[SupportMessage]:
        statement = select(SupportMessage).where(SupportMessage.ticket_id == ticket_id)
        if not with_internal:
            statement = statement.where(SupportMessage.internal.is_(False))
        return await self.all(statement.order_by(SupportMessage.created_at, SupportMessage.id))
