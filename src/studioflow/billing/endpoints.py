"""HTTP layer of credits: the balance and ledger, and admin grants."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from studioflow.billing import credits, requests
from studioflow.billing.auth import BillingManager, BillingReader
from studioflow.billing.schemas import (
    CreditEventOut,
    CreditRequestAnswer,
    CreditRequestIn,
    CreditRequestOut,
    CreditsOut,
    GrantIn,
)
from studioflow.identity import audit
from studioflow.identity.auth import PlatformAdmin, platform_of
from studioflow.identity.context import context_of
from studioflow.models import CreditRequest
from studioflow.platform.db import Database, SessionDep
from studioflow.platform.errors import NotFound, Unprocessable, answers
from studioflow.platform.pagination import Page, PageParams, page_params

router = APIRouter(tags=["credits"])
LEDGER_KEY_LENGTH = 200  # CreditEvent.idempotency_key


async def _credits_out(db: Database, session: SessionDep, client_id: uuid.UUID) -> CreditsOut:
    balance, events = await credits.summary(db, session, client_id)
    return CreditsOut(
        balance=balance,
        events=[CreditEventOut.model_validate(e) for e in events],
    )


@router.get("/api/v1/credits", response_model=CreditsOut)
async def get_credits(
    request: Request, session: SessionDep, principal: BillingReader
) -> CreditsOut:
    """The active client's balance and its latest ledger entries, newest first."""
    return await _credits_out(platform_of(request).db, session, principal.client_id)


@router.post(
    "/api/v1/admin/clients/{client_id}/credits",
    response_model=CreditsOut,
    tags=["admin"],
    responses=answers(
        {402: "Taking back more than the balance holds (`insufficient_credits`): never below zero."}
    ),
)
async def grant_credits(
    request: Request,
    client_id: uuid.UUID,
    body: GrantIn,
    session: SessionDep,
    principal: PlatformAdmin,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CreditsOut:
    """Grant (or take back) credits; with Idempotency-Key a retried request changes nothing."""
    if body.amount == 0:
        raise Unprocessable("amount must not be zero.")
    if not await credits.client_exists(session, client_id):
        raise NotFound("No such client.")
    key = f"admin:{client_id}:{idempotency_key}" if idempotency_key else f"admin:{uuid.uuid4()}"
    if len(key) > LEDGER_KEY_LENGTH:
        # The caller may send 200 characters; the ledger's column holds 200 with the prefix.
        digest = hashlib.sha256(key.encode()).hexdigest()
        key = f"admin:{client_id}:sha256:{digest}"
    replayed = await credits.recorded(session, key)
    await credits.apply(
        session,
        client_id,
        body.amount,
        reason=body.reason,
        reference=body.reference,
        key=key,
        actor_user_id=principal.user_id,
    )
    if not replayed:  # a retried grant changes nothing, its audit entry included
        await audit.by_principal(
            session,
            "admin.credits_granted",
            principal,
            context_of(request),
            client_id=client_id,
            amount=body.amount,
            reason=body.reason,
        )
    return await _credits_out(platform_of(request).db, session, client_id)


def _request_out(request: CreditRequest, client_name: str | None = None) -> CreditRequestOut:
    return CreditRequestOut(
        id=str(request.id),
        client_id=str(request.client_id),
        amount=request.amount,
        note=request.note,
        status=request.status,
        granted=request.granted,
        answer=request.answer,
        created_at=request.created_at,
        resolved_at=request.resolved_at,
        client_name=client_name,
    )


@router.post(
    "/api/v1/credits/requests",
    status_code=201,
    response_model=CreditRequestOut,
    responses=answers({409: "The workspace has an open request already (`request_open`)."}),
)
async def ask_for_credits(
    body: CreditRequestIn, request: Request, session: SessionDep, principal: BillingManager
) -> CreditRequestOut:
    """Ask the platform admins for credits (owners); they are emailed and answer from the
    admin console. One open request per workspace."""
    asked = await requests.ask(
        platform_of(request),
        session,
        principal,
        amount=body.amount,
        note=body.note,
        context=context_of(request),
    )
    return _request_out(asked)


@router.get("/api/v1/credits/requests", response_model=Page[CreditRequestOut])
async def my_credit_requests(
    session: SessionDep, principal: BillingReader
) -> Page[CreditRequestOut]:
    """The active workspace's latest requests and their answers, newest first."""
    rows = await requests.of_workspace(session, principal)
    return Page(items=[_request_out(r) for r in rows])


@router.get("/api/v1/admin/credit-requests", response_model=Page[CreditRequestOut], tags=["admin"])
async def all_credit_requests(
    session: SessionDep,
    principal: PlatformAdmin,
    params: Annotated[PageParams, Depends(page_params)],
    status: str | None = None,
) -> Page[CreditRequestOut]:
    """Every workspace's requests, newest first; ``status`` filters (open, granted, declined)."""
    if status is not None and status not in requests.STATUSES:
        raise Unprocessable(
            f"status must be one of: {', '.join(requests.STATUSES)}.", code="invalid_status"
        )
    rows, cursor = await requests.all_workspaces(session, params, status=status)
    return Page(items=[_request_out(r, name) for r, name in rows], next_cursor=cursor)


_ANSWERED = answers(
    {
        404: "No such request (`not_found`).",
        409: "It was answered the other way already (`request_answered`).",
    }
)


async def _answer(
    request: Request,
    session: SessionDep,
    principal: PlatformAdmin,
    request_id: uuid.UUID,
    body: CreditRequestAnswer,
    *,
    grant: bool,
) -> CreditRequestOut:
    answered = await requests.resolve(
        session,
        principal,
        request_id,
        grant=grant,
        amount=body.amount if grant else None,
        answer=body.answer,
        context=context_of(request),
    )
    return _request_out(answered)


@router.post(
    "/api/v1/admin/credit-requests/{request_id}/grant",
    response_model=CreditRequestOut,
    tags=["admin"],
    responses=_ANSWERED,
)
async def grant_credit_request(
    request_id: uuid.UUID,
    body: CreditRequestAnswer,
    request: Request,
    session: SessionDep,
    principal: PlatformAdmin,
) -> CreditRequestOut:
    """Grant a request (``amount`` defaults to what was asked); granted once, whatever retries."""
    return await _answer(request, session, principal, request_id, body, grant=True)


@router.post(
    "/api/v1/admin/credit-requests/{request_id}/decline",
    response_model=CreditRequestOut,
    tags=["admin"],
    responses=_ANSWERED,
)
async def decline_credit_request(
    request_id: uuid.UUID,
    body: CreditRequestAnswer,
    request: Request,
    session: SessionDep,
    principal: PlatformAdmin,
) -> CreditRequestOut:
    """Decline a request, with a word to the owner."""
    return await _answer(request, session, principal, request_id, body, grant=False)
