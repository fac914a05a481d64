"""The workspace's support tickets (API.md: /api/v1/support-tickets)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from studioflow.identity.auth import platform_of
from studioflow.identity.context import context_of
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import answers
from studioflow.platform.pagination import Page, PageParams, page_params
from studioflow.support import service
from studioflow.support.auth import SupportReader, SupportWriter
from studioflow.support.schemas import (
    MessageIn,
    MessageOut,
    Status,
    TicketDetail,
    TicketIn,
    TicketOut,
)

router = APIRouter(prefix="/api/v1/support-tickets", tags=["support"])


def detail(thread: service.Thread) -> TicketDetail:
    return TicketDetail.model_validate(
        {
            **TicketOut.model_validate(thread.ticket).model_dump(),
            "messages": [MessageOut.model_validate(m) for m in thread.messages],
        }
    )


@router.get("", response_model=Page[TicketOut])
async def list_tickets(
    principal: SupportReader,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[Status | None, Query()] = None,
) -> Page[TicketOut]:
    """The active workspace's tickets, newest first (``?status=``)."""
    rows, cursor = await service.tickets(session, principal, params, status)
    return Page(items=[TicketOut.model_validate(t) for t in rows], next_cursor=cursor)


@router.post(
    "",
    status_code=201,
    response_model=TicketDetail,
    responses=answers({404: "The run or an image is not the workspace's."}),
)
async def open_ticket(
    body: TicketIn, principal: SupportWriter, request: Request, session: SessionDep
) -> TicketDetail:
    """Ask the platform's admins for help: subject, message, category, priority, and
    optionally one of the workspace's runs and up to 10 of its images."""
    ticket = await service.open_ticket(
        platform_of(request),
        session,
        principal,
        context_of(request),
        subject=body.subject,
        body=body.body,
        category=body.category,
        priority=body.priority,
        execution_id=body.execution_id,
        image_ids=body.image_ids,
    )
    return detail(await service.thread(session, principal, ticket.id))


@router.get("/{ticket_id}", response_model=TicketDetail)
async def get_ticket(
    ticket_id: uuid.UUID, principal: SupportReader, session: SessionDep
) -> TicketDetail:
    """A ticket and its messages (the admins' internal notes are never shown)."""
    return detail(await service.thread(session, principal, ticket_id))


@router.post(
    "/{ticket_id}/messages",
    status_code=201,
    response_model=MessageOut,
    responses=answers({409: "The ticket is closed (`ticket_closed`)."}),
)
async def write(
    ticket_id: uuid.UUID,
    body: MessageIn,
    principal: SupportWriter,
    request: Request,
    session: SessionDep,
) -> MessageOut:
    """Write in the ticket's thread; a resolved ticket opens again, one waiting on the
    workspace goes back in progress."""
    message = await service.reply(
        platform_of(request),
        session,
        principal,
        ticket_id,
        body=body.body,
        image_ids=body.image_ids,
    )
    return MessageOut.model_validate(message)


@router.post("/{ticket_id}/close", response_model=TicketDetail)
async def close_ticket(
    ticket_id: uuid.UUID, principal: SupportWriter, request: Request, session: SessionDep
) -> TicketDetail:
    """Close the ticket: nothing more is needed."""
    await service.close(platform_of(request), session, principal, ticket_id)
    return detail(await service.thread(session, principal, ticket_id))
