"""Support tickets (seed 000): a workspace opens a ticket (subject, body, category,
priority, optionally a run and images of its own), both sides write in its thread, admins
assign it, change its status and priority, and add internal notes the workspace never sees.

States: ``open`` → ``in_progress`` ⇄ ``waiting_on_client`` → ``resolved`` → ``closed``.
A workspace's reply puts a ticket waiting on it back in progress and reopens a resolved
one; a closed ticket takes no more messages (open a new one). Resolved tickets close
themselves after ``AUTO_CLOSE`` (a job). Every public reply and status change is emailed
to the other side: the workspace's opener, or the assigned admin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity import service as identity
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.media import service as media
from studioflow.models import (
    SupportMessage,
    SupportTicket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from studioflow.notifications import service as notifications
from studioflow.notifications.content import Message
from studioflow.platform.errors import Conflict, NotFound, Unprocessable
from studioflow.platform.mail import build_message
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScope
from studioflow.platform.runtime import Platform
from studioflow.platform.tasks import send_mail_later
from studioflow.studio import executions
from studioflow.support.repository import MessageRepository, TicketRepository

AUTO_CLOSE = timedelta(days=7)
MAX_IMAGES = 10

# What an admin may move a ticket to, from each state.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.open: frozenset(
        {
            TicketStatus.in_progress,
            TicketStatus.waiting_on_client,
            TicketStatus.resolved,
            TicketStatus.closed,
        }
    ),
    TicketStatus.in_progress: frozenset(
        {TicketStatus.waiting_on_client, TicketStatus.resolved, TicketStatus.closed}
    ),
    TicketStatus.waiting_on_client: frozenset(
        {TicketStatus.in_progress, TicketStatus.resolved, TicketStatus.closed}
    ),
    TicketStatus.resolved: frozenset({TicketStatus.in_progress, TicketStatus.closed}),
    TicketStatus.closed: frozenset(),
}

STATUS_WORDS = {
    TicketStatus.open: "open",
    TicketStatus.in_progress: "in progress",
    TicketStatus.waiting_on_client: "waiting for your answer",
    TicketStatus.resolved: "resolved",
    TicketStatus.closed: "closed",
}


@dataclass(frozen=True)
class Thread:
    ticket: SupportTicket
    messages: list[SupportMessage]
    client_name: str


def _now() -> datetime:
    return datetime.now(UTC)


async def _images(
    session: AsyncSession, scope: ClientScope | Principal, image_ids: list[uuid.UUID]
) -> list[str]:
    """The attached images, all of them the ticket's workspace's (else 404)."""
    wanted = list(dict.fromkeys(image_ids))
    if len(wanted) > MAX_IMAGES:
        raise Unprocessable(f"At most {MAX_IMAGES} images.", code="too_many_images")
    if wanted and len(await media.owned_image_ids(session, scope, wanted)) != len(wanted):
        raise NotFound("No such image.")
    return [str(i) for i in wanted]


async def open_ticket(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    context: Context,
    *,
    subject: str,
    body: str,
    category: str,
    priority: str,
    execution_id: uuid.UUID | None,
    image_ids: list[uuid.UUID],
) -> SupportTicket:
    if not subject.strip():
        raise Unprocessable("Give the ticket a subject.", code="validation_error")
    _some_text(body)
    if execution_id is not None:
        await executions.get_execution(session, principal, execution_id)  # 404 if not theirs
    attached = await _images(session, principal, image_ids)
    ticket = SupportTicket(
        client_id=principal.client_id,
        opened_by=principal.user_id,
        subject=subject.strip(),
        category=TicketCategory(category),
        priority=TicketPriority(priority),
        status=TicketStatus.open,
        execution_id=execution_id,
    )
    session.add(ticket)
    await session.flush()
    session.add(
        SupportMessage(
            ticket_id=ticket.id,
            author_id=principal.user_id,
            author_label=principal.user.email,
            body=body.strip(),
            image_ids=attached,
        )
    )
    await audit.by_principal(
        session, "support.ticket_opened", principal, context, ticket=str(ticket.id)
    )
    await session.flush()
    return ticket


async def tickets(
    session: AsyncSession, principal: Principal, params: PageParams, status: str | None
) -> tuple[list[SupportTicket], str | None]:
    return await TicketRepository(session).page(principal, params, status=status)


async def thread(session: AsyncSession, principal: Principal, ticket_id: uuid.UUID) -> Thread:
    """A workspace's ticket and its public messages (never the admins' internal notes)."""
    repository = TicketRepository(session)
    ticket = await repository.get_readable(principal, ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    messages = await MessageRepository(session).thread(ticket.id, with_internal=False)
    return Thread(ticket, messages, await repository.client_name(ticket.client_id))


async def reply(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    ticket_id: uuid.UUID,
    *,
    body: str,
    image_ids: list[uuid.UUID],
) -> SupportMessage:
    """The workspace writes: back in progress when it was waiting on them, reopened when it
    was resolved; 409 ``ticket_closed`` on a closed ticket."""
    ticket = await TicketRepository(session).readable_locked(principal, ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    if ticket.status == TicketStatus.closed:
        raise Conflict("This ticket is closed. Open a new one.", code="ticket_closed")
    _some_text(body)
    attached = await _images(session, principal, image_ids)
    if ticket.status == TicketStatus.waiting_on_client:
        ticket.status = TicketStatus.in_progress
    elif ticket.status == TicketStatus.resolved:
        ticket.status = TicketStatus.open
        ticket.resolved_at = None
    message = SupportMessage(
        ticket_id=ticket.id,
        author_id=principal.user_id,
        author_label=principal.user.email,
        body=body.strip(),
        image_ids=attached,
    )
    session.add(message)
    ticket.updated_at = _now()
    await session.flush()
    if ticket.assignee_id is not None:
        await _mail_user(
            platform,
            session,
            ticket.assignee_id,
            f"New reply on ticket: {ticket.subject}",
            f"{principal.user.email} wrote:\n\n{message.body}\n\n"
            f"{platform.settings.base_url}/admin/tickets/{ticket.id}\n",
        )
    return message


async def close(
    platform: Platform, session: AsyncSession, principal: Principal, ticket_id: uuid.UUID
) -> SupportTicket:
    """The workspace closes its ticket (it needs nothing more)."""
    ticket = await TicketRepository(session).readable_locked(principal, ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    if ticket.status != TicketStatus.closed:
        ticket.status = TicketStatus.closed
        ticket.closed_at = ticket.updated_at = _now()
        await session.flush()
    return ticket


# The admins' side ----------------------------------------------------------------------


async def queue(
    session: AsyncSession,
    params: PageParams,
    *,
    status: str | None,
    priority: str | None,
    assignee: uuid.UUID | None,
    unassigned: bool = False,
) -> tuple[list[tuple[SupportTicket, str]], str | None]:
    return await TicketRepository(session).queue(
        params, status=status, priority=priority, assignee=assignee, unassigned=unassigned
    )


async def staff_thread(session: AsyncSession, ticket_id: uuid.UUID) -> Thread:
    """Any ticket with every message, internal notes included (platform admins only)."""
    repository = TicketRepository(session)
    ticket = await repository.get(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    messages = await MessageRepository(session).thread(ticket.id, with_internal=True)
    return Thread(ticket, messages, await repository.client_name(ticket.client_id))


async def update(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    context: Context,
    ticket_id: uuid.UUID,
    changes: dict[str, Any],
) -> SupportTicket:
    """Status (along ``TRANSITIONS``; else 409 ``invalid_transition``), priority, assignee
    (a platform admin, or null). The opener is emailed when the status changes."""
    ticket = await TicketRepository(session).any_locked(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    before = ticket.status
    if changes.get("status") is not None:
        wanted = TicketStatus(changes["status"])
        if wanted != ticket.status:
            if wanted not in TRANSITIONS[ticket.status]:
                raise Conflict(
                    f"A ticket that is {ticket.status.value} cannot become {wanted.value}.",
                    code="invalid_transition",
                )
            ticket.status = wanted
            if wanted == TicketStatus.resolved:
                ticket.resolved_at = _now()
            if wanted == TicketStatus.closed:
                ticket.closed_at = _now()
    if changes.get("priority") is not None:
        ticket.priority = TicketPriority(changes["priority"])
    if "assignee_id" in changes:
        assignee = changes["assignee_id"]
        if assignee is not None:
            user = await identity.user_by_id(session, assignee)
            if user is None or user.platform_role != "admin" or not user.is_active:
                raise Unprocessable("Assign the ticket to an active platform admin.")
        ticket.assignee_id = assignee
    ticket.updated_at = _now()
    await session.flush()
    await audit.by_principal(
        session,
        "support.ticket_updated",
        principal,
        context,
        client_id=ticket.client_id,
        ticket=str(ticket.id),
        status=ticket.status.value,
        priority=ticket.priority.value,
    )
    if ticket.status != before:
        await _tell_opener(
            platform,
            session,
            ticket,
            f"Your ticket is {STATUS_WORDS[ticket.status]}: {ticket.subject}",
            f"Your support ticket “{ticket.subject}” is now {STATUS_WORDS[ticket.status]}.\n\n",
        )
    return ticket


async def staff_reply(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    ticket_id: uuid.UUID,
    *,
    body: str,
    internal: bool,
    image_ids: list[uuid.UUID],
    context: Context,
) -> SupportMessage:
    """An admin writes: a reply the workspace reads (emailed to the opener; an open ticket
    goes in progress), or an internal note only admins see."""
    ticket = await TicketRepository(session).any_locked(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    if ticket.status == TicketStatus.closed and not internal:
        raise Conflict("This ticket is closed.", code="ticket_closed")
    _some_text(body)
    attached = await _images(session, ClientScope(ticket.client_id, principal.user_id), image_ids)
    message = SupportMessage(
        ticket_id=ticket.id,
        author_id=principal.user_id,
        author_label=principal.user.email,
        staff=True,
        internal=internal,
        body=body.strip(),
        image_ids=attached,
    )
    session.add(message)
    if not internal:
        if ticket.status == TicketStatus.open:
            ticket.status = TicketStatus.in_progress
        ticket.updated_at = _now()
    await session.flush()
    await audit.by_principal(
        session,
        "support.staff_replied",
        principal,
        context,
        # An internal note is never the workspace's to see, not even on its timeline.
        client_id=None if internal else ticket.client_id,
        ticket=str(ticket.id),
        internal=internal,
    )
    if not internal and ticket.opened_by is not None:
        # In the app and by mail (or push), as the opener's preferences for support.reply say.
        title = f"New reply on your ticket: {ticket.subject}"[:200]
        await notifications.notify(
            platform,
            session,
            user_id=ticket.opened_by,
            event="support.reply",
            key=f"support:{message.id}",
            message=Message(
                title=title,
                body=message.body[:300],
                link=f"/support/{ticket.id}",
                email_text=f"The support team wrote:\n\n{message.body}\n\n"
                f"{platform.settings.base_url}/support/{ticket.id}\n",
            ),
        )
    return message


async def close_resolved(platform: Platform, *, limit: int = 500) -> int:
    """Close the tickets resolved more than ``AUTO_CLOSE`` ago (the job); each in its own
    transaction, and only if still resolved (a reply may have reopened it meanwhile)."""
    async with platform.db.transaction() as session:
        due = await TicketRepository(session).resolved_before(_now() - AUTO_CLOSE, limit=limit)
    closed = 0
    for ticket_id in due:
        async with platform.db.transaction() as session:
            repository = TicketRepository(session)
            if await repository.close_if_still_resolved(ticket_id, _now()):
                closed += 1
                ticket = await repository.get(ticket_id)
                if ticket is not None:
                    await _tell_opener(
                        platform,
                        session,
                        ticket,
                        f"Your ticket is closed: {ticket.subject}",
                        f"Your support ticket “{ticket.subject}” was resolved a week ago and "
                        "is now closed. Open a new one if you need more help.\n\n",
                    )
    return closed


def _some_text(body: str) -> None:
    if not body.strip():
        raise Unprocessable("Write a message.", code="validation_error")


async def _tell_opener(
    platform: Platform, session: AsyncSession, ticket: SupportTicket, subject: str, text: str
) -> None:
    if ticket.opened_by is not None:
        await _mail_user(
            platform,
            session,
            ticket.opened_by,
            subject,
            f"{text}{platform.settings.base_url}/support/{ticket.id}\n",
        )


async def _mail_user(
    platform: Platform, session: AsyncSession, user_id: uuid.UUID, subject: str, text: str
) -> None:
    user = await identity.user_by_id(session, user_id)
    if user is None or not user.is_active:
        return
    message = build_message(
        sender=platform.settings.mail_from, to=user.email, subject=subject, text=text
    )
    send_mail_later(platform, session, message)
