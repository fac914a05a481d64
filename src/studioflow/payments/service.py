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
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing import credits
from studioflow.models import (
    OPEN_PAYMENT,
    CreditPack,
    Payment,
    PaymentProvider,
    PaymentPurpose,
    PaymentRefund,
    PaymentStatus,
    RefundStatus,
)
from studioflow.models.base import uuid7
from studioflow.payments import wallet
from studioflow.payments.repository import (
    CreditPackRepository,
    PaymentRepository,
    RefundRepository,
)
from studioflow.payments.stripe_api import Intent, ProviderError, StripeGateway
from studioflow.platform.db import on_rollback
from studioflow.platform.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from studioflow.platform.runtime import Platform

log = structlog.get_logger("studioflow.payments")

Handler = Callable[[Platform, AsyncSession, Payment], Awaitable[None]]
_ON_SUCCESS: dict[PaymentPurpose, Handler] = {}
_ON_FAILURE: dict[PaymentPurpose, Handler] = {}

PayWith = Literal["card", "wallet"]
# The client secret of an intent made in this unit of work: answered once, never stored.
_SECRETS = "studioflow.payment_secrets"
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


@dataclass(frozen=True)
class Prepared:
    """A card payment set up at the provider before anything is written: its id is ours,
    chosen now, and the provider's intent carries it."""

    payment_id: uuid.UUID
    intent: Intent | None  # None: the offline test mode needs nothing prepared


def gateway(platform: Platform) -> StripeGateway:
    return StripeGateway(platform.settings)


def _unavailable(error: ProviderError) -> ServiceUnavailable:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return ServiceUnavailable(
        "The payment provider did not answer as expected; try again shortly.",
        code=error.code,
        headers=headers,
    )


def asks_provider(platform: Platform, pay_with: PayWith) -> bool:
    """Whether paying this way asks a provider first (Stripe), before anything is written."""
    return pay_with == "card" and platform.settings.card_provider != "test"


async def prepare(
    platform: Platform,
    session: AsyncSession,
    *,
    amount: int,
    currency: str,
    purpose: PaymentPurpose,
    pay_with: PayWith,
) -> Prepared:
    """Before the caller writes: with Stripe, create the PaymentIntent (a network call, so
    never inside a write transaction). If the caller's transaction then rolls back (out of
    stock), the intent is cancelled; it was never shown to anyone."""
    payment_id = uuid7()
    if not asks_provider(platform, pay_with):
        return Prepared(payment_id, None)
    if amount <= 0:
        raise Unprocessable("There is nothing to pay.", code="nothing_to_pay")
    stripe = gateway(platform)
    try:
        intent = await stripe.create_intent(payment_id, amount, currency, purpose.value)
    except ProviderError as error:
        raise _unavailable(error) from None

    async def cancel() -> None:
        await stripe.cancel(intent.id)

    on_rollback(session, cancel)
    return Prepared(payment_id, intent)


async def open_payment(
    platform: Platform,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    purpose: PaymentPurpose,
    amount: int,
    currency: str,
    pay_with: PayWith,
    prepared: Prepared,
    reference: str = "",
    client_id: uuid.UUID | None = None,
) -> Payment:
    """Record a payment waiting to be paid; ``collect()`` then takes it (the caller records
    what the payment is for in between, in the same transaction)."""
    if amount <= 0:
        raise Unprocessable("There is nothing to pay.", code="nothing_to_pay")
    if pay_with == "wallet":
        provider = PaymentProvider.wallet
    elif prepared.intent is not None:
        provider = PaymentProvider.stripe
        if (prepared.intent.amount, prepared.intent.currency) != (amount, currency.upper()):
            raise Conflict("The amount changed while paying; try again.", code="amount_changed")
    else:
        provider = PaymentProvider.test
    payment = Payment(
        id=prepared.payment_id,
        user_id=user_id,
        client_id=client_id,
        purpose=purpose,
        reference=reference,
        provider=provider,
        provider_ref=prepared.intent.id if prepared.intent else None,
        amount=amount,
        currency=currency,
        status=PaymentStatus.requires_payment,
        refunded_amount=0,
    )
    session.add(payment)
    await session.flush()
    session.info.setdefault(_SECRETS, {})[payment.id] = (
        prepared.intent.client_secret if prepared.intent else None
    )
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
    secret = session.info.get(_SECRETS, {}).get(payment.id)
    return Started(payment, pay_page(platform, payment), secret)


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
    prepared = await prepare(
        platform, session, amount=amount, currency=currency, purpose=purpose, pay_with=pay_with
    )
    payment = await open_payment(
        platform,
        session,
        user_id=user_id,
        purpose=purpose,
        amount=amount,
        currency=currency,
        pay_with=pay_with,
        prepared=prepared,
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
    more; Stripe is told by the ``payments.send_refund`` job after the commit (retried, and
    swept every few minutes), never inside the transaction."""
    if amount <= 0:
        raise Unprocessable("A refund must be more than zero.", code="invalid_amount")
    if payment.status not in (PaymentStatus.succeeded, PaymentStatus.refunded):
        raise Conflict("Only a paid payment can be refunded.", code="not_paid")
    refunds = RefundRepository(session)
    if await refunds.by_key(key) is not None:
        return payment.refunded_amount
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
    payments = PaymentRepository(session)
    payment_id, paid, provider = payment.id, payment.amount, payment.provider
    total = await payments.add_refund(payment_id, amount)  # expires the loaded row
    if total is None:
        raise Conflict("That is more than is left to refund.", code="refund_too_large")
    if total == paid:
        await payments.move(payment_id, (PaymentStatus.succeeded,), PaymentStatus.refunded)
    row = PaymentRefund(
        payment_id=payment_id,
        amount=amount,
        idempotency_key=key,
        status=(
            RefundStatus.pending if provider is PaymentProvider.stripe else RefundStatus.succeeded
        ),
    )
    session.add(row)
    await session.flush()
    if provider is PaymentProvider.stripe:
        platform.queue.defer(session, "payments.send_refund", refund_id=str(row.id))
    await session.refresh(payment)
    log.info("payment.refunded", payment_id=str(payment_id), amount=amount)
    return total


async def send_refund(platform: Platform, refund_id: uuid.UUID) -> bool:
    """Tell Stripe of a recorded refund (its idempotency key makes a retry harmless);
    whether it is done. A refusal that no retry changes marks it failed for the admins."""
    async with platform.db.read() as session:
        row = await RefundRepository(session).get(refund_id)
        payment = await PaymentRepository(session).get(row.payment_id) if row else None
    if row is None or payment is None or row.status is not RefundStatus.pending:
        return True
    assert payment.provider_ref is not None
    try:
        reference = await gateway(platform).refund(
            payment.provider_ref, row.amount, row.idempotency_key
        )
        status, error = RefundStatus.succeeded, ""
    except ProviderError as failure:
        if failure.retry_after is not None:
            async with platform.db.transaction() as session:
                found = await RefundRepository(session).get(refund_id)
                if found is not None:
                    found.attempts += 1
                    found.error = failure.code
            raise  # the queue retries it
        reference, status, error = None, RefundStatus.failed, failure.code
    async with platform.db.transaction() as session:
        found = await RefundRepository(session).get(refund_id)
        if found is not None and found.status is RefundStatus.pending:
            found.status, found.provider_ref, found.error = status, reference, error
            found.attempts += 1
    if status is RefundStatus.failed:
        log.error("stripe.refund_refused", refund_id=str(refund_id), code=error)
    return status is RefundStatus.succeeded


async def pending_refunds(platform: Platform, before: datetime) -> list[uuid.UUID]:
    async with platform.db.read() as session:
        return await RefundRepository(session).pending(before)


async def refunds_of(session: AsyncSession, payment_id: uuid.UUID) -> list[PaymentRefund]:
    return await RefundRepository(session).of_payment(payment_id)


async def client_secret(platform: Platform, payment: Payment) -> str | None:
    """Stripe's client secret of an open payment, asked of Stripe (it is never stored)."""
    if payment.provider is not PaymentProvider.stripe or payment.status not in OPEN_PAYMENT:
        return None
    assert payment.provider_ref is not None
    try:
        return (await gateway(platform).retrieve(payment.provider_ref)).client_secret
    except ProviderError as error:
        raise _unavailable(error) from None


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
    purpose, currency = PaymentPurpose.wallet_topup, settings.wallet_currency
    # The provider first, before this unit of work's first statement takes any lock.
    prepared = await prepare(
        platform, session, amount=amount, currency=currency, purpose=purpose, pay_with="card"
    )
    await wallet.wallet(session, user_id, currency)
    payment = await open_payment(
        platform,
        session,
        user_id=user_id,
        purpose=purpose,
        amount=amount,
        currency=currency,
        pay_with="card",
        prepared=prepared,
    )
    return await collect(platform, session, payment)


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
    async with platform.db.read() as read:  # no lock held while the provider is asked
        chosen = await pack(read, pack_id)
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


# Stripe's webhook -------------------------------------------------------------------------------


async def handle_stripe_event(platform: Platform, session: AsyncSession, event: Any) -> str:
    """Apply a verified event once: its id is stored with the change it causes, in one
    transaction, so a replay changes nothing and a failure stores nothing (Stripe retries
    on the non-2xx answer). Events about the same payment in any order end the same way:
    a failure after success changes nothing; a success after a failure settles."""
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise Unprocessable("Not a Stripe event.", code="invalid_event")
    event_id, kind = str(event["id"])[:255], str(event["type"])[:100]
    data = event.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    intent: dict[str, Any] = found if isinstance(found, dict) else {}
    payments = PaymentRepository(session)
    payment = None
    if intent.get("object") == "payment_intent" and intent.get("id"):
        payment = await payments.by_provider_ref(PaymentProvider.stripe.value, str(intent["id"]))
    if not await payments.record_event("stripe", event_id, kind, payment.id if payment else None):
        return "duplicate"
    outcome = await _apply_event(platform, session, payment, kind, intent)
    await payments.note_event("stripe", event_id, outcome)
    log.info("stripe.event", event_type=kind, outcome=outcome)
    return outcome


async def _apply_event(
    platform: Platform,
    session: AsyncSession,
    payment: Payment | None,
    kind: str,
    intent: dict[str, Any],
) -> str:
    if not kind.startswith("payment_intent."):
        return "ignored"
    if payment is None:
        return "unknown_payment"
    if kind == "payment_intent.succeeded":
        received = intent.get("amount_received", intent.get("amount"))
        currency = str(intent.get("currency", "")).upper()
        if received != payment.amount or currency != payment.currency:
            # Signed by Stripe yet not what we asked for: never mark it paid; an admin looks.
            log.error("stripe.amount_mismatch", payment_id=str(payment.id))
            return "amount_mismatch"
        return "settled" if await succeed(platform, session, payment.id) else "no_change"
    if kind == "payment_intent.payment_failed":
        failure = intent.get("last_payment_error")
        code = str(failure.get("code") or "declined") if isinstance(failure, dict) else "declined"
        moved = await fail(platform, session, payment.id, f"Declined by the card network ({code}).")
        return "failed" if moved else "no_change"
    if kind == "payment_intent.requires_action":
        return "requires_action" if await require_action(session, payment.id) else "no_change"
    if kind == "payment_intent.canceled":
        closed = await abandon(session, payment.id, "Cancelled at Stripe.")
        return "closed" if closed else "no_change"
    return "ignored"
