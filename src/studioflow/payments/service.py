"""Payments: one charge of a user for one purpose, through a provider, settled once.

A payment starts ``requires_payment``. The provider decides the rest: the offline ``test``
provider by the payer's choice on the TEST MODE page, Stripe by a verified webhook, the
wallet at once. Settling is a conditional status change (only one of several concurrent
webhooks, clicks or retries wins) in the same transaction as what the payment buys: the
handler registered for its purpose (orders paid, a wallet topped up, credits granted). A
payment that succeeds after what it was for has gone (an order cancelled meanwhile) is
refunded by that handler, to where it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing import credits
from studioflow.models import (
    OPEN_PAYMENT,
    CreditPack,
    Payment,
    PaymentProvider,
    PaymentPurpose,
    PaymentStatus,
)
from studioflow.payments import wallet
from studioflow.payments.repository import CreditPackRepository, PaymentRepository
from studioflow.platform.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.payments")

Handler = Callable[[Platform, AsyncSession, Payment], Awaitable[None]]
_ON_SUCCESS: dict[PaymentPurpose, Handler] = {}
_ON_FAILURE: dict[PaymentPurpose, Handler] = {}

PayWith = Literal["card", "wallet"]
Outcome = Literal["succeed", "decline", "requires_action"]


def on_success(purpose: PaymentPurpose) -> Callable[[Handler], Handler]:
    """Register what a succeeded payment of ``purpose`` does (in the settling transaction).
    The features above payments register theirs when imported (the app imports them all)."""

    def register(handler: Handler) -> Handler:
        _ON_SUCCESS[purpose] = handler
        return handler

    return register


def on_failure(purpose: PaymentPurpose) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ON_FAILURE[purpose] = handler
        return handler

    return register


@dataclass(frozen=True)
class Started:
    payment: Payment
    redirect_url: str | None
    client_secret: str | None


async def get_own(session: AsyncSession, user_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    """The payer's payment; anyone else's is 404."""
    found = await PaymentRepository(session).of_payer(user_id, payment_id)
    if found is None:
        raise NotFound("No such payment.")
    return found


async def get(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    return await PaymentRepository(session).get(payment_id)


def pay_page(platform: Platform, payment: Payment) -> str | None:
    if payment.provider is PaymentProvider.test:
        return f"{platform.settings.base_url}/pay/{payment.id}"
    return None


async def open_payment(
    platform: Platform,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    purpose: PaymentPurpose,
    amount: int,
    currency: str,
    pay_with: PayWith,
    reference: str = "",
    client_id: uuid.UUID | None = None,
) -> Payment:
    """Record a payment waiting to be paid; ``collect()`` then takes it (the caller records
    what the payment is for in between, in the same transaction)."""
    if amount <= 0:
        raise Unprocessable("There is nothing to pay.", code="nothing_to_pay")
    if pay_with == "wallet":
        provider = PaymentProvider.wallet
    elif platform.settings.card_provider == "test":
        provider = PaymentProvider.test
    else:
        raise ServiceUnavailable(
            "Card payments through Stripe are not available on this installation yet.",
            code="provider_unavailable",
        )
    payment = Payment(
        user_id=user_id,
        client_id=client_id,
        purpose=purpose,
        reference=reference,
        provider=provider,
        amount=amount,
        currency=currency,
        status=PaymentStatus.requires_payment,
        refunded_amount=0,
    )
    session.add(payment)
    await session.flush()
    return payment


async def collect(platform: Platform, session: AsyncSession, payment: Payment) -> Started:
    """From the wallet: paid here and now (402 ``insufficient_funds`` when it holds too
    little, and the caller's transaction rolls back whole). By card: where to pay."""
    if payment.provider is PaymentProvider.wallet:
        assert payment.user_id is not None
        await wallet.apply(
            session,
            payment.user_id,
            -payment.amount,
            currency=payment.currency,
            reason=f"pay_{payment.purpose.value}",
            key=f"payment:{payment.id}",
            reference=str(payment.id),
        )
        await succeed(platform, session, payment.id)
        await session.refresh(payment)
    return Started(payment, pay_page(platform, payment), None)


async def start(
    platform: Platform,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    purpose: PaymentPurpose,
    amount: int,
    currency: str,
    pay_with: PayWith,
    reference: str = "",
    client_id: uuid.UUID | None = None,
) -> Started:
    """Open a payment whose purpose needs no rows of its own, and take it."""
    payment = await open_payment(
        platform,
        session,
        user_id=user_id,
        purpose=purpose,
        amount=amount,
        currency=currency,
        pay_with=pay_with,
        reference=reference,
        client_id=client_id,
    )
    return await collect(platform, session, payment)


async def succeed(platform: Platform, session: AsyncSession, payment_id: uuid.UUID) -> bool:
    """Settle as succeeded once, with what it buys; False when it already was settled."""
    payments = PaymentRepository(session)
    moved = await payments.move(
        payment_id,
        OPEN_PAYMENT,
        PaymentStatus.succeeded,
        succeeded_at=datetime.now(UTC),
        failure_reason=None,
    )
    if not moved:
        return False
    payment = await payments.get(payment_id)
    assert payment is not None
    handler = _ON_SUCCESS.get(payment.purpose)
    if handler is None:  # a process that does not know the purpose must not settle it
        raise RuntimeError(f"no handler for payments of purpose {payment.purpose}")
    await handler(platform, session, payment)
    log.info("payment.succeeded", payment_id=str(payment.id), purpose=payment.purpose.value)
    return True


async def fail(
    platform: Platform, session: AsyncSession, payment_id: uuid.UUID, reason: str
) -> bool:
    """A declined attempt: the payment may still succeed on another attempt until what it
    pays for expires."""
    payments = PaymentRepository(session)
    moved = await payments.move(
        payment_id,
        (PaymentStatus.requires_payment, PaymentStatus.requires_action),
        PaymentStatus.failed,
        failure_reason=reason[:300],
    )
    if moved:
        payment = await payments.get(payment_id)
        assert payment is not None
        handler = _ON_FAILURE.get(payment.purpose)
        if handler is not None:
            await handler(platform, session, payment)
    return moved


async def abandon(session: AsyncSession, payment_id: uuid.UUID, reason: str) -> bool:
    """Nothing is left to pay for (the orders expired or were cancelled): the payment is
    closed as failed. Should the provider still report it paid, its handler refunds it."""
    return await PaymentRepository(session).move(
        payment_id,
        (PaymentStatus.requires_payment, PaymentStatus.requires_action),
        PaymentStatus.failed,
        failure_reason=reason[:300],
    )


async def require_action(session: AsyncSession, payment_id: uuid.UUID) -> bool:
    return await PaymentRepository(session).move(
        payment_id,
        (PaymentStatus.requires_payment, PaymentStatus.failed),
        PaymentStatus.requires_action,
    )


async def test_outcome(
    platform: Platform,
    session: AsyncSession,
    user_id: uuid.UUID,
    payment_id: uuid.UUID,
    outcome: Outcome | None,
) -> Payment:
    """The payer's choice on the TEST MODE page: what a card network would answer."""
    payment = await get_own(session, user_id, payment_id)
    if outcome is None:
        raise Unprocessable("Name the outcome: succeed, decline or requires_action.")
    if payment.provider is not PaymentProvider.test:
        raise Conflict("Only a test-mode payment takes a chosen outcome.", code="not_test_mode")
    if payment.status not in OPEN_PAYMENT:
        if outcome == "succeed" and payment.status is PaymentStatus.succeeded:
            return payment  # a double click
        raise Conflict(f"The payment is {payment.status.value} already.", code="invalid_transition")
    if outcome == "succeed":
        await succeed(platform, session, payment.id)
    elif outcome == "decline":
        await fail(platform, session, payment.id, "Declined (test mode).")
    else:
        await require_action(session, payment.id)
    await session.refresh(payment)
    return payment


async def refund(
    platform: Platform, session: AsyncSession, payment: Payment, amount: int, *, key: str
) -> int:
    """Give ``amount`` back to where it came from, once per ``key``; the total refunded.

    The wallet gets its money back in this transaction; a test-mode card needs nothing
    more. (Stripe's refund call is made after the commit, never inside it.)"""
    if amount <= 0:
        raise Unprocessable("A refund must be more than zero.", code="invalid_amount")
    if payment.status not in (PaymentStatus.succeeded, PaymentStatus.refunded):
        raise Conflict("Only a paid payment can be refunded.", code="not_paid")
    if payment.provider is PaymentProvider.wallet and payment.user_id is not None:
        await wallet.apply(
            session,
            payment.user_id,
            amount,
            currency=payment.currency,
            reason="refund",
            key=f"refund:{key}",
            reference=str(payment.id),
        )
    elif payment.provider is PaymentProvider.stripe:
        raise ServiceUnavailable("Stripe refunds are not available yet.")
    payments = PaymentRepository(session)
    payment_id, paid = payment.id, payment.amount
    total = await payments.add_refund(payment_id, amount)  # expires the loaded row
    if total is None:
        raise Conflict("That is more than is left to refund.", code="refund_too_large")
    if total == paid:
        await payments.move(payment_id, (PaymentStatus.succeeded,), PaymentStatus.refunded)
    await session.refresh(payment)
    log.info("payment.refunded", payment_id=str(payment_id), amount=amount)
    return total


# What payments themselves buy ----------------------------------------------------------------


@on_success(PaymentPurpose.wallet_topup)
async def _topped_up(platform: Platform, session: AsyncSession, payment: Payment) -> None:
    assert payment.user_id is not None
    await wallet.apply(
        session,
        payment.user_id,
        payment.amount,
        currency=payment.currency,
        reason="topup",
        key=f"payment:{payment.id}",
        reference=str(payment.id),
    )


async def topup(
    platform: Platform, session: AsyncSession, user_id: uuid.UUID, amount: int
) -> Started:
    """Add money to the wallet by card (never from the wallet itself)."""
    settings = platform.settings
    if not 100 <= amount <= settings.wallet_max_topup:
        raise Unprocessable(
            f"A top-up is between 1.00 and {settings.wallet_max_topup / 100:.2f}.",
            code="invalid_amount",
        )
    await wallet.wallet(session, user_id, settings.wallet_currency)
    return await start(
        platform,
        session,
        user_id=user_id,
        purpose=PaymentPurpose.wallet_topup,
        amount=amount,
        currency=settings.wallet_currency,
        pay_with="card",
    )


# Credit packs ---------------------------------------------------------------------------------


async def packs(session: AsyncSession, *, active_only: bool = True) -> list[CreditPack]:
    return await CreditPackRepository(session).listed(active_only=active_only)


async def pack(session: AsyncSession, pack_id: uuid.UUID) -> CreditPack:
    found = await CreditPackRepository(session).get(pack_id)
    if found is None:
        raise NotFound("No such credit pack.")
    return found


async def buy_pack(
    platform: Platform,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    client_id: uuid.UUID,
    pack_id: uuid.UUID,
    pay_with: PayWith,
) -> Started:
    """Start paying for a pack; its credits arrive once, when the payment succeeds. The
    number bought is fixed now: an admin changing the pack later does not change it."""
    chosen = await pack(session, pack_id)
    if not chosen.is_active:
        raise NotFound("No such credit pack.")
    return await start(
        platform,
        session,
        user_id=user_id,
        client_id=client_id,
        purpose=PaymentPurpose.credit_pack,
        reference=f"{chosen.id}:{chosen.credits}",
        amount=chosen.price_amount,
        currency=chosen.currency,
        pay_with=pay_with,
    )


@on_success(PaymentPurpose.credit_pack)
async def _credits_bought(platform: Platform, session: AsyncSession, payment: Payment) -> None:
    assert payment.client_id is not None
    pack_id, _, number = payment.reference.partition(":")
    await credits.apply(
        session,
        payment.client_id,
        int(number),
        reason="purchase",
        key=f"payment:{payment.id}",
        reference=f"pack:{pack_id}",
        actor_user_id=payment.user_id,
    )


async def save_pack(
    session: AsyncSession,
    *,
    pack_id: uuid.UUID | None,
    name: str,
    credits_count: int,
    price_amount: int,
    currency: str,
    is_active: bool,
) -> CreditPack:
    if price_amount <= 0:
        raise Unprocessable("A pack costs more than zero.", code="invalid_amount")
    if pack_id is None:
        row = CreditPack(
            name=name,
            credits=credits_count,
            price_amount=price_amount,
            currency=currency,
            is_active=is_active,
        )
        session.add(row)
    else:
        row = await pack(session, pack_id)
        row.name, row.credits, row.price_amount = name, credits_count, price_amount
        row.currency, row.is_active = currency, is_active
    await session.flush()
    return row
