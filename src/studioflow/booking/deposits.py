"""Deposits (issue 17): a service may ask to be paid in part (or whole) at booking. The
appointment is made at once, holding the time, but stays ``pending`` until its deposit's
payment succeeds (the same payments as the shop: the TEST MODE page, Stripe, the wallet);
then it is confirmed if the business confirms automatically. Not paid within
``shop_payment_minutes``, it is cancelled and the time is free again. A cancelled
appointment's paid deposit is refunded, to where it came from.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import notices
from studioflow.booking.repository import AppointmentRepository, BookingRepository
from studioflow.models import (
    Appointment,
    AppointmentStatus,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    Service,
)
from studioflow.payments import service as payments
from studioflow.platform.runtime import Platform


async def prepare(
    platform: Platform, session: AsyncSession, service_id: uuid.UUID, pay_with: payments.PayWith
) -> payments.Prepared | None:
    """Before the booking's unit of work takes a lock: the deposit's intent at the provider
    (read from a read session), or None when the service asks for none."""
    async with platform.db.read() as read:
        offered = await BookingRepository(read).service_anywhere(service_id)
    if offered is None or not offered.deposit_minor:
        return None
    return await payments.prepare(
        platform,
        session,
        amount=offered.deposit_minor,
        currency=offered.currency,
        purpose=PaymentPurpose.deposit,
        pay_with=pay_with,
    )


async def take(
    platform: Platform,
    session: AsyncSession,
    row: Appointment,
    offered: Service,
    prepared: payments.Prepared,
    pay_with: payments.PayWith,
) -> payments.Started:
    """Open the deposit's payment for a just-booked appointment and take it (from the
    wallet: now, which confirms the appointment in this transaction)."""
    assert offered.deposit_minor and row.customer_id
    payment = await payments.open_payment(
        platform,
        session,
        user_id=row.customer_id,
        purpose=PaymentPurpose.deposit,
        amount=offered.deposit_minor,
        currency=offered.currency,
        pay_with=pay_with,
        prepared=prepared,
        reference=str(row.id),
    )
    row.payment_id = payment.id
    await session.flush()
    return await payments.collect(platform, session, payment)


@payments.on_success(PaymentPurpose.deposit)
async def _paid(platform: Platform, session: AsyncSession, payment: Payment) -> None:
    repository = AppointmentRepository(session)
    row = await repository.by_id(uuid.UUID(payment.reference), lock=True)
    if row is None or row.status is AppointmentStatus.cancelled:
        # Cancelled (not paid in time, or by someone) before the money came: give it back.
        await payments.refund(
            platform, session, payment, payment.amount, key=f"deposit:{payment.id}:late"
        )
        return
    business = await BookingRepository(session).profile(row.client_id)
    if row.status is AppointmentStatus.pending and business is not None and business.auto_confirm:
        row.status = AppointmentStatus.confirmed
        row.sequence += 1
        await session.flush()
        await notices.tell(platform, session, row, "appointment.confirmed")


async def refund_on_cancel(platform: Platform, session: AsyncSession, row: Appointment) -> None:
    """A cancelled appointment's paid deposit goes back (once: the key is the appointment's)."""
    if row.payment_id is None:
        return
    payment = await payments.get(session, row.payment_id)
    if payment is None:
        return
    if payment.status is PaymentStatus.succeeded and payment.refunded_amount < payment.amount:
        await payments.refund(
            platform,
            session,
            payment,
            payment.amount - payment.refunded_amount,
            key=f"deposit:{payment.id}:cancel",
        )
    elif payment.status in (PaymentStatus.requires_payment, PaymentStatus.requires_action):
        await payments.abandon(session, payment.id, "The appointment was cancelled.")


async def expire_unpaid(platform: Platform, now: datetime | None = None) -> int:
    """Cancel appointments whose deposit was not paid in time; their time is free again."""
    now = now or datetime.now(UTC)
    before = now - timedelta(minutes=platform.settings.shop_payment_minutes)
    async with platform.db.read() as session:
        due = await AppointmentRepository(session).unpaid_deposits(before)
    done = 0
    for appointment_id in due:
        async with platform.db.transaction() as session:
            row = await AppointmentRepository(session).by_id(appointment_id, lock=True)
            if row is None or row.status is not AppointmentStatus.pending:
                continue
            payment = await payments.get(session, row.payment_id) if row.payment_id else None
            if payment is not None and payment.status is PaymentStatus.succeeded:
                continue  # paid meanwhile
            row.status = AppointmentStatus.cancelled
            row.cancel_reason = "The deposit was not paid in time."
            row.sequence += 1
            await session.flush()
            if payment is not None:
                await payments.abandon(session, payment.id, "Not paid in time.")
            await notices.tell(platform, session, row, "appointment.cancelled")
            done += 1
    return done
