"""HTTP routes of payments, the wallet and credit packs (API.md, "Commerce")."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from studioflow.identity.auth import PlatformAdmin, platform_of
from studioflow.payments import service, stripe_api, wallet
from studioflow.payments.auth import CreditBuyer, Payer
from studioflow.payments.presenters import pack_out, payment_out
from studioflow.payments.schemas import (
    OutcomeIn,
    PackIn,
    PackOut,
    PaymentOut,
    PurchaseIn,
    PurchaseOut,
    TopupIn,
    WalletEntryOut,
    WalletOut,
)
from studioflow.platform import idempotency
from studioflow.platform.db import ReadSessionDep, SessionDep
from studioflow.platform.errors import BadRequest, NotFound, answers
from studioflow.platform.pagination import PageParams, page_params

router = APIRouter(tags=["payments"])


@router.get(
    "/api/v1/payments/{payment_id}",
    responses=answers(
        {404: "Not the caller's.", 503: "Stripe did not answer (`provider_unreachable`)."}
    ),
)
async def get_payment(
    payment_id: uuid.UUID, request: Request, principal: Payer, session: SessionDep
) -> PaymentOut:
    """One of the caller's payments, with its status (the pay page polls it)."""
    row = await service.get_own(session, principal.user_id, payment_id)
    platform = platform_of(request)
    return payment_out(platform, row, await service.client_secret(platform, row))


@router.post(
    "/api/v1/payments/{payment_id}/test-outcome",
    responses=answers(
        {
            404: "Not the caller's payment.",
            409: "Not a test-mode payment (`not_test_mode`), or settled already "
            "(`invalid_transition`).",
        }
    ),
)
async def test_outcome(
    payment_id: uuid.UUID,
    body: OutcomeIn,
    request: Request,
    principal: Payer,
    session: SessionDep,
) -> PaymentOut:
    """TEST MODE: answer for the card network: succeed, decline or ask for an extra step
    (3-D Secure style). Only payments of the offline test provider take it."""
    platform = platform_of(request)
    row = await service.test_outcome(platform, session, principal.user_id, payment_id, body.outcome)
    return payment_out(platform, row)


@router.post(
    "/api/v1/payments/webhook/stripe",
    responses=answers(
        {
            400: "The Stripe-Signature does not verify (`invalid_signature`).",
            404: "No Stripe webhook secret is configured.",
            422: "Verified, but not an event (`invalid_event`).",
        }
    ),
)
async def stripe_webhook(
    request: Request,
    session: SessionDep,
    stripe_signature: Annotated[str | None, Header(max_length=2000)] = None,
) -> dict[str, Any]:
    """Stripe's events: verified by `Stripe-Signature` before anything is stored, each
    applied once. A failure answers 5xx, so Stripe sends it again."""
    platform = platform_of(request)
    secret = platform.settings.stripe_webhook_secret
    if not secret:
        raise NotFound("No Stripe webhook is configured here.")
    try:
        event = stripe_api.verify(await request.body(), stripe_signature, secret)
    except stripe_api.InvalidSignature:
        raise BadRequest(
            "The Stripe-Signature header does not verify.", code="invalid_signature"
        ) from None
    outcome = await service.handle_stripe_event(platform, session, event)
    return {"received": True, "outcome": outcome}


@router.get("/api/v1/wallet")
async def get_wallet(
    request: Request,
    principal: Payer,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> WalletOut:
    """The caller's wallet: balance, currency and the newest transactions."""
    held = await wallet.peek(session, principal.user_id)
    currency = held.currency if held else platform_of(request).settings.wallet_currency
    entries, cursor = await wallet.history(session, principal.user_id, params)
    return WalletOut(
        balance=held.balance if held else 0,
        currency=currency,
        transactions=[
            WalletEntryOut(
                id=e.id,
                delta=e.delta,
                reason=e.reason,
                reference=e.reference,
                balance_after=e.balance_after,
                created_at=e.created_at,
            )
            for e in entries
        ],
        next_cursor=cursor,
    )


@router.post(
    "/api/v1/wallet/topup",
    status_code=201,
    responses=answers(
        {
            409: "The Idempotency-Key was used with another body (`idempotency_key_reused`).",
            422: "Outside the allowed amounts (`invalid_amount`).",
        }
    ),
)
async def topup(
    body: TopupIn,
    request: Request,
    principal: Payer,
    session: SessionDep,
    read: ReadSessionDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Add money to the wallet by card: answers the payment to complete (its
    `redirect_url` in test mode). The money arrives when the payment succeeds."""
    guard = idempotency.Guard(
        session, principal.client_id, f"topup:{principal.user_id}", idempotency_key, body.amount
    )
    if (replay := await guard.replay(read)) is not None:
        response.status_code = replay.status_code
        response.headers["Idempotent-Replayed"] = "true"
        return replay.response
    platform = platform_of(request)
    started = await service.topup(platform, session, principal.user_id, body.amount)
    out = payment_out(platform, started.payment, started.client_secret)
    # Kept without Stripe's client secret (never stored): a replay asks GET /payments/{id}.
    await guard.remember(
        201, out.model_copy(update={"client_secret": None}).model_dump(mode="json")
    )
    return out


@router.get("/api/v1/credit-packs")
async def list_packs(session: SessionDep) -> list[PackOut]:
    """The credit packs on sale (public)."""
    return [pack_out(row) for row in await service.packs(session)]


@router.post(
    "/api/v1/credits/purchase",
    status_code=201,
    responses=answers(
        {
            402: "Paying from a wallet that holds too little (`insufficient_funds`).",
            404: "No such pack.",
            409: "The Idempotency-Key was used with another body (`idempotency_key_reused`).",
        }
    ),
)
async def purchase(
    body: PurchaseIn,
    request: Request,
    principal: CreditBuyer,
    session: SessionDep,
    read: ReadSessionDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Buy a credit pack for the active workspace. The credits arrive once, when the
    payment succeeds (at once from the wallet)."""
    guard = idempotency.Guard(
        session,
        principal.client_id,
        f"credits:{principal.user_id}",
        idempotency_key,
        body.model_dump(mode="json"),
    )
    if (replay := await guard.replay(read)) is not None:
        response.status_code = replay.status_code
        response.headers["Idempotent-Replayed"] = "true"
        return replay.response
    platform = platform_of(request)
    started = await service.buy_pack(
        platform,
        session,
        user_id=principal.user_id,
        client_id=principal.client_id,
        pack_id=body.pack_id,
        pay_with=body.pay_with,
    )
    chosen = await service.pack(session, body.pack_id)
    out = PurchaseOut(
        pack=pack_out(chosen),
        payment=payment_out(platform, started.payment, started.client_secret),
    )
    kept = out.model_copy(
        update={"payment": out.payment.model_copy(update={"client_secret": None})}
    )
    await guard.remember(201, kept.model_dump(mode="json"))
    return out


@router.get("/api/v1/admin/credit-packs")
async def admin_packs(principal: PlatformAdmin, session: SessionDep) -> list[PackOut]:
    """Every credit pack, on sale or not (platform admins)."""
    return [pack_out(row) for row in await service.packs(session, active_only=False)]


@router.post("/api/v1/admin/credit-packs", status_code=201)
async def create_pack(body: PackIn, principal: PlatformAdmin, session: SessionDep) -> PackOut:
    """Define a credit pack (platform admins)."""
    row = await service.save_pack(
        session,
        pack_id=None,
        name=body.name,
        credits_count=body.credits,
        price_amount=body.price.amount,
        currency=body.price.currency,
        is_active=body.is_active,
    )
    return pack_out(row)


@router.put("/api/v1/admin/credit-packs/{pack_id}", responses=answers({404: "No such pack."}))
async def update_pack(
    pack_id: uuid.UUID, body: PackIn, principal: PlatformAdmin, session: SessionDep
) -> PackOut:
    """Change a credit pack; payments already started keep what they were for."""
    row = await service.save_pack(
        session,
        pack_id=pack_id,
        name=body.name,
        credits_count=body.credits,
        price_amount=body.price.amount,
        currency=body.price.currency,
        is_active=body.is_active,
    )
    return pack_out(row)
