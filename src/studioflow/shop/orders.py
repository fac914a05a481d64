"""Checkout and orders.

Checkout is one transaction: the cart's lines, priced now, grouped into one order per
seller; each line's stock reserved by a conditional update (the CHECK ``stock >= 0``
behind it), so of 20 buyers racing for the last unit exactly one gets an order and the
others 409 ``out_of_stock`` naming the products; one payment for the orders; the cart
emptied. Nothing of it stays when any part fails.

An order is paid only when its payment succeeds (the payments module calls ``_paid`` in the
settling transaction): the seller's earnings are posted then, minus the platform's
commission. An unpaid order is cancelled by the buyer or, after ``shop_payment_minutes``,
by a job, and its stock given back exactly once (the status change is conditional: only
the winner gives back). A payment that succeeds for an order cancelled meanwhile is
refunded. Sellers fulfil, deliver and refund (in full or in part, back to where the money
came from), and the ledger follows each step.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.auth import Principal
from studioflow.models import (
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentPurpose,
)
from studioflow.payments import ledger
from studioflow.payments import service as payments
from studioflow.platform.errors import Conflict, NotFound, Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform
from studioflow.shop import cart as carts
from studioflow.shop import live, sellers
from studioflow.shop.repository import OrderRepository, ProductRepository

log = structlog.get_logger("studioflow.shop")


@dataclass
class Checkout:
    orders: list[Order]
    items: dict[uuid.UUID, list[OrderItem]]
    started: payments.Started


async def checkout(
    platform: Platform,
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    shipping_address: dict[str, Any],
    pay_with: payments.PayWith,
) -> Checkout:
    # With Stripe the intent is made first, from a read of the cart, before this unit of
    # work takes any lock (on SQLite its first statement takes the writer's); the cart is
    # read again below and must still come to the same amount. The test mode and the
    # wallet ask nobody, so they skip that read.
    amount, currency_seen = 0, ""
    if payments.asks_provider(platform, pay_with):
        async with platform.db.read() as read:
            seen = _checked(await carts.read(read, user_id))
        amount, currency_seen = seen.subtotal, seen.currency or ""
    prepared = await payments.prepare(
        platform,
        session,
        amount=amount,
        currency=currency_seen,
        purpose=PaymentPurpose.orders,
        pay_with=pay_with,
    )
    basket = _checked(await carts.read(session, user_id))
    currency = basket.currency
    assert currency is not None
    products = ProductRepository(session)
    # Reserve in one order of rows (fewer lock waits between concurrent checkouts).
    lines = sorted(basket.lines, key=lambda line: (str(line.product.id), line.item.variant_key))
    short = []
    for line in lines:
        quantity = line.item.quantity
        taken = (
            await products.take_variant(line.variant.id, quantity)
            if line.variant is not None
            else await products.take(line.product.id, quantity)
        )
        if not taken:
            short.append(line)
    live.changed(platform, session, {line.product.id for line in lines})
    if short:
        raise Conflict(
            "Not enough in stock: " + ", ".join(line.product.title for line in short) + ".",
            code="out_of_stock",
            extra={
                "products": [
                    {
                        "id": str(line.product.id),
                        "variant_id": str(line.variant.id) if line.variant else None,
                        "title": line.product.title,
                        "available": line.stock,
                    }
                    for line in short
                ]
            },
        )
    payment = await payments.open_payment(
        platform,
        session,
        user_id=user_id,
        purpose=PaymentPurpose.orders,
        amount=basket.subtotal,
        currency=currency,
        pay_with=pay_with,
        prepared=prepared,
    )
    by_seller: dict[uuid.UUID, list[carts.Line]] = defaultdict(list)
    for line in basket.lines:
        by_seller[line.product.client_id].append(line)
    expires = datetime.now(UTC) + timedelta(minutes=platform.settings.shop_payment_minutes)
    orders, items = [], {}
    for seller_id, seller_lines in by_seller.items():
        order = Order(
            buyer_id=user_id,
            client_id=seller_id,
            payment_id=payment.id,
            status=OrderStatus.pending_payment,
            currency=currency,
            subtotal=sum(line.total for line in seller_lines),
            commission_amount=0,
            refunded_amount=0,
            shipping_address=shipping_address,
            expires_at=expires,
        )
        session.add(order)
        await session.flush()
        items[order.id] = [
            OrderItem(
                order_id=order.id,
                product_id=line.product.id,
                variant_id=line.variant.id if line.variant else None,
                title=line.product.title,
                variant_name=line.variant.name if line.variant else None,
                unit_price=line.unit_price,
                quantity=line.item.quantity,
            )
            for line in seller_lines
        ]
        session.add_all(items[order.id])
        orders.append(order)
    await session.flush()
    await carts.empty(session, user_id)
    started = await payments.collect(platform, session, payment)
    for order in orders:
        await session.refresh(order)
    return Checkout(orders, items, started)


def _checked(basket: carts.Cart) -> carts.Cart:
    """The cart if it can be checked out: not empty, all on sale, one currency."""
    if not basket.lines:
        raise Unprocessable("The cart is empty.", code="cart_empty")
    gone = [line for line in basket.lines if not line.available]
    if gone:
        raise Conflict(
            "Some products are no longer on sale; remove them from the cart.",
            code="unavailable",
            extra={"products": [{"id": str(g.product.id), "title": g.product.title} for g in gone]},
        )
    if basket.currency is None:
        raise Unprocessable(
            "The cart holds products priced in different currencies; buy them separately.",
            code="mixed_currencies",
        )
    return basket


@payments.on_success(PaymentPurpose.orders)
async def _paid(platform: Platform, session: AsyncSession, payment: Payment) -> None:
    """The payment of a checkout succeeded: its orders are paid and the sellers credited.
    An order cancelled meanwhile (its stock given back) is refunded instead."""
    repository = OrderRepository(session)
    bps = platform.settings.shop_commission_bps
    now = datetime.now(UTC)
    for order in await repository.of_payment(payment.id):
        commission = ledger.commission_of(order.subtotal, bps)
        if await repository.move(
            order.id,
            (OrderStatus.pending_payment,),
            OrderStatus.paid,
            paid_at=now,
            commission_amount=commission,
        ):
            await ledger.post(
                session,
                kind="order_paid",
                key=f"order:{order.id}:paid",
                currency=order.currency,
                reference=str(order.id),
                legs=[
                    ledger.Leg(ledger.CLEARING, ledger.PLATFORM, -order.subtotal),
                    ledger.Leg(
                        ledger.SELLER_EARNINGS,
                        sellers.owner_key(order.client_id),
                        order.subtotal - commission,
                    ),
                    ledger.Leg(ledger.COMMISSION, ledger.PLATFORM, commission),
                ],
            )
            log.info("order.paid", order_id=str(order.id))
        elif order.status is OrderStatus.cancelled and order.subtotal > 0:
            await payments.refund(
                platform, session, payment, order.subtotal, key=f"order:{order.id}:late"
            )
            log.warning("order.paid_after_cancel_refunded", order_id=str(order.id))


async def _release(platform: Platform, session: AsyncSession, order: Order) -> None:
    products = ProductRepository(session)
    items = (await OrderRepository(session).items_of([order.id]))[order.id]
    live.changed(platform, session, {i.product_id for i in items if i.product_id})
    for item in items:
        if item.variant_id is not None:
            await products.give_back_variant(item.variant_id, item.quantity)
        elif item.product_id is not None:
            await products.give_back(item.product_id, item.quantity)


async def _cancel(platform: Platform, session: AsyncSession, order: Order, reason: str) -> bool:
    """Cancel an unpaid order and give its stock back, once (only the status change's
    winner gives back). The payment is closed when none of its orders is left to pay."""
    moved = await OrderRepository(session).move(
        order.id,
        (OrderStatus.pending_payment,),
        OrderStatus.cancelled,
        cancelled_at=datetime.now(UTC),
        cancel_reason=reason,
    )
    if moved:
        await _release(platform, session, order)
        siblings = await OrderRepository(session).of_payment(order.payment_id)
        if all(o.status is OrderStatus.cancelled for o in siblings):
            await payments.abandon(session, order.payment_id, reason)
    return moved


async def cancel(
    platform: Platform, session: AsyncSession, user_id: uuid.UUID, order_id: uuid.UUID
) -> Order:
    order = await buyer_order(session, user_id, order_id)
    if not await _cancel(platform, session, order, "Cancelled by the buyer."):
        raise Conflict(
            f"An order that is {order.status.value} cannot be cancelled.",
            code="invalid_transition",
        )
    return order


async def expire(platform: Platform, now: datetime | None = None) -> int:
    """Cancel the orders whose payment time ran out; a page at a time, each order in its
    own transaction (a crash loses nothing and a rerun finds what is left)."""
    now = now or datetime.now(UTC)
    done = 0
    async with platform.db.read() as session:
        due = await OrderRepository(session).expired(now)
    for order_id in due:
        async with platform.db.transaction() as session:
            order = await session.get(Order, order_id)
            if order is not None and await _cancel(
                platform, session, order, "Not paid in time; the stock was given back."
            ):
                done += 1
    return done


async def buyer_order(session: AsyncSession, user_id: uuid.UUID, order_id: uuid.UUID) -> Order:
    found = await OrderRepository(session).buyer_one(user_id, order_id)
    if found is None:
        raise NotFound("No such order.")
    return found


async def of_payment(
    session: AsyncSession, user_id: uuid.UUID, payment_id: uuid.UUID
) -> list[Order]:
    """The buyer's orders that one payment pays."""
    return [
        o for o in await OrderRepository(session).of_payment(payment_id) if o.buyer_id == user_id
    ]


async def seller_order(session: AsyncSession, principal: Principal, order_id: uuid.UUID) -> Order:
    found = await OrderRepository(session).get_readable(principal, order_id)
    if found is None:
        raise NotFound("No such order.")
    return found


async def items_of(
    session: AsyncSession, order_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[OrderItem]]:
    return await OrderRepository(session).items_of(order_ids)


async def of_buyer(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams, status: OrderStatus | None
) -> tuple[list[Order], str | None]:
    return await OrderRepository(session).buyer_page(user_id, params, status=status)


async def of_seller(
    session: AsyncSession, principal: Principal, params: PageParams, status: OrderStatus | None
) -> tuple[list[Order], str | None]:
    return await OrderRepository(session).seller_page(principal, params, status=status)


async def fulfil(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, tracking: str | None
) -> Order:
    order = await seller_order(session, principal, order_id)
    if not await OrderRepository(session).move(
        order.id,
        (OrderStatus.paid,),
        OrderStatus.fulfilled,
        fulfilled_at=datetime.now(UTC),
        tracking=tracking,
    ):
        raise Conflict(
            f"An order that is {order.status.value} cannot be fulfilled.",
            code="invalid_transition",
        )
    return order


async def deliver(session: AsyncSession, principal: Principal, order_id: uuid.UUID) -> Order:
    order = await seller_order(session, principal, order_id)
    if not await OrderRepository(session).move(
        order.id, (OrderStatus.fulfilled,), OrderStatus.delivered, delivered_at=datetime.now(UTC)
    ):
        raise Conflict(
            f"An order that is {order.status.value} cannot be delivered.",
            code="invalid_transition",
        )
    return order


async def refund(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    order_id: uuid.UUID,
    amount: int | None,
) -> Order:
    """Give the buyer ``amount`` (all that is left when None) back, to where it came from.
    The seller's earnings and the platform's commission go down in proportion; a seller
    already paid out past what is left answers 409 ``insufficient_balance``."""
    order = await seller_order(session, principal, order_id)
    if order.status not in (OrderStatus.paid, OrderStatus.fulfilled, OrderStatus.refunded):
        raise Conflict(
            f"An order that is {order.status.value} cannot be refunded.",
            code="invalid_transition",
        )
    before = order.refunded_amount
    left = order.subtotal - before
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise Unprocessable(
            f"A refund is between 0.01 and {left / 100:.2f} {order.currency}.",
            code="invalid_amount",
        )
    if not await OrderRepository(session).add_refund(order.id, before, amount):
        raise Conflict("The order changed meanwhile; try again.", code="conflict")
    # The commission given back so far, recomputed on the total: a full refund gives all.
    after = before + amount
    back = (order.commission_amount * after) // order.subtotal - (
        order.commission_amount * before
    ) // order.subtotal
    await ledger.post(
        session,
        kind="order_refund",
        key=f"order:{order.id}:refund:{before}",
        currency=order.currency,
        reference=str(order.id),
        actor_user_id=principal.user_id,
        legs=[
            ledger.Leg(ledger.CLEARING, ledger.PLATFORM, amount),
            ledger.Leg(ledger.SELLER_EARNINGS, sellers.owner_key(order.client_id), back - amount),
            ledger.Leg(ledger.COMMISSION, ledger.PLATFORM, -back),
        ],
    )
    payment = await payments.get(session, order.payment_id)
    assert payment is not None
    await payments.refund(platform, session, payment, amount, key=f"order:{order.id}:{before}")
    return order
