"""HTTP layer of credits: the balance and ledger, and admin grants."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request

from studioflow.billing import credits
from studioflow.billing.auth import BillingReader
from studioflow.billing.schemas import CreditEventOut, CreditsOut, GrantIn
from studioflow.identity.auth import PlatformAdmin, platform_of
from studioflow.platform.db import Database, SessionDep
from studioflow.platform.errors import NotFound, Unprocessable, answers

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
    await credits.apply(
        session,
        client_id,
        body.amount,
        reason=body.reason,
        reference=body.reference,
        key=key,
        actor_user_id=principal.user_id,
    )
    return await _credits_out(platform_of(request).db, session, client_id)
