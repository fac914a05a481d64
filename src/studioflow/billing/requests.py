"""Asking for credits: a workspace owner asks the platform admins, an admin grants or declines.

Until credits can be bought (the payments issue), this is how a workspace that ran out gets
more without anyone reaching for the API. One request of a workspace is open at a time (the
database says so: a partial unique index); a grant goes through the ledger under the
request's own key, so a retried or double-clicked grant adds the credits once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing import credits
from studioflow.billing.repository import CreditRequestRepository
from studioflow.clients import service as clients
from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.models import CreditRequest
from studioflow.platform.errors import Conflict, NotFound
from studioflow.platform.mail import build_message
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform
from studioflow.platform.tasks import send_mail_later

OPEN, GRANTED, DECLINED = "open", "granted", "declined"
STATUSES = (OPEN, GRANTED, DECLINED)


def _already_open() -> Conflict:
    return Conflict(
        "This workspace already has an open request; the platform admins answer it first.",
        code="request_open",
    )


async def ask(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    *,
    amount: int,
    note: str,
    context: Context,
) -> CreditRequest:
    """Open a request for ``amount`` credits in the principal's workspace; the admins are
    emailed. 409 ``request_open`` while another is open."""
    repository = CreditRequestRepository(session)
    if await repository.open_of(principal.client_id) is not None:
        raise _already_open()
    request = CreditRequest(
        client_id=principal.client_id, requested_by=principal.user_id, amount=amount, note=note
    )
    try:
        async with session.begin_nested():
            repository.add(request)
            await repository.flush()
    except IntegrityError:  # a concurrent ask won the index
        raise _already_open() from None
    await audit.by_principal(session, "credits.requested", principal, context, amount=amount)
    client = await clients.get_client(session, principal)
    link = f"{platform.settings.base_url}/admin/credits"
    for address in await repository.admin_addresses():
        send_mail_later(
            platform,
            session,
            build_message(
                sender=platform.settings.mail_from,
                to=address,
                subject=f"{client.name} asks for {amount} credits",
                text=f"{principal.user.email} asks for {amount} credits for the workspace "
                f"{client.name}.\n\n{note or '(no note)'}\n\nGrant or decline: {link}\n",
            ),
        )
    return request


async def of_workspace(
    session: AsyncSession, principal: Principal, *, limit: int = 10
) -> list[CreditRequest]:
    return await CreditRequestRepository(session).newest_of(principal, limit=limit)


async def all_workspaces(
    session: AsyncSession, params: PageParams, *, status: str | None = None
) -> tuple[list[tuple[CreditRequest, str]], str | None]:
    """Every workspace's requests for the platform admins (the caller checked)."""
    return await CreditRequestRepository(session).all_workspaces(params, status=status)


async def open_count(session: AsyncSession) -> int:
    return await CreditRequestRepository(session).count_open()


async def resolve(
    session: AsyncSession,
    admin: Principal,
    request_id: uuid.UUID,
    *,
    grant: bool,
    amount: int | None,
    answer: str | None,
    context: Context,
) -> CreditRequest:
    """Grant (``amount``, by default what was asked) or decline an open request. Answering
    one that is already answered the same way changes nothing; the other way is 409. The
    answer is a conditional UPDATE on ``status = 'open'``, so a grant and a decline racing
    cannot both stand (credits granted to a request shown as declined)."""
    repository = CreditRequestRepository(session)
    request = await repository.by_id(request_id)
    if request is None:
        raise NotFound("No such credit request.")
    wanted = GRANTED if grant else DECLINED
    given = (amount or request.amount) if grant else None
    claimed = request.status == OPEN and await repository.answer(
        request_id,
        {
            "status": wanted,
            "granted": given,
            "answer": answer,
            "resolved_by": admin.user_id,
            "resolved_at": datetime.now(UTC),
        },
    )
    request = await repository.fresh(request_id) or request
    if not claimed:
        if request.status == wanted:
            return request  # a retry, or the same answer racing
        raise Conflict(f"This request was already {request.status}.", code="request_answered")
    if given is not None:
        # In the same transaction as the answer: both stand or neither does.
        await credits.apply(
            session,
            request.client_id,
            given,
            reason="admin_grant",
            reference=f"credit request {request.id}",
            key=f"credit-request:{request.id}",
            actor_user_id=admin.user_id,
        )
    await audit.by_principal(
        session,
        f"credits.request_{wanted}",
        admin,
        context,
        client_id=request.client_id,
        amount=request.granted,
    )
    await session.flush()
    return request
