"""What happens to an appointment after it is booked: who may see it, and the states it
moves through (``pending`` → ``confirmed`` → ``completed`` | ``no_show``; ``pending`` or
``confirmed`` → ``cancelled``), rescheduling included. A move the states do not allow is
409 ``invalid_transition``; the customer may cancel or move only before the business's
notice, the business at any time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import appointments, deposits, notices
from studioflow.booking.repository import AppointmentRepository, BookingRepository
from studioflow.booking.service import availability, instant, zone_of
from studioflow.identity.auth import Principal
from studioflow.identity.tokens import sha256
from studioflow.models import OPEN_APPOINTMENT, Appointment, AppointmentStatus
from studioflow.platform.errors import Conflict, Forbidden, NotFound, Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform

Action = Literal["confirm", "cancel", "complete", "no_show"]

TRANSITIONS: dict[Action, tuple[frozenset[AppointmentStatus], AppointmentStatus]] = {
    "confirm": (frozenset({AppointmentStatus.pending}), AppointmentStatus.confirmed),
    "cancel": (frozenset(OPEN_APPOINTMENT), AppointmentStatus.cancelled),
    "complete": (frozenset({AppointmentStatus.confirmed}), AppointmentStatus.completed),
    "no_show": (frozenset({AppointmentStatus.confirmed}), AppointmentStatus.no_show),
}
# Only the business marks these; the customer may cancel (and reschedule).
BUSINESS_ONLY: frozenset[Action] = frozenset({"confirm", "complete", "no_show"})
UNCONFIRMED_FOR = timedelta(hours=24)


def _is_business(principal: Principal, appointment: Appointment) -> bool:
    return principal.client_id == appointment.client_id and principal.can("booking:read")


async def get(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> Appointment:
    """The customer's own, or one of the active business's; anyone else: 404."""
    found = await AppointmentRepository(session).visible(principal, appointment_id)
    if found is None:
        raise NotFound("No such appointment.")
    return found


async def listed(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    as_business: bool,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    staff_id: uuid.UUID | None,
) -> tuple[list[Appointment], str | None]:
    if as_business and not principal.can("booking:read"):
        raise Forbidden("Your role does not show the business's appointments.")
    return await AppointmentRepository(session).page(
        principal,
        params,
        as_business=as_business,
        status=status,
        start=start,
        end=end,
        staff_id=staff_id,
    )


async def act(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    action: Action,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Appointment:
    row = await _locked_visible(session, principal, appointment_id)
    business = _is_business(principal, row)
    if action in BUSINESS_ONLY and not business:
        raise Forbidden("Only the business can do that.")
    return await _apply(
        platform, session, row, action, business=business, actor=principal.user_id,
        reason=reason, now=now,
    )  # fmt: skip


async def _apply(
    platform: Platform,
    session: AsyncSession,
    row: Appointment,
    action: Action,
    *,
    business: bool,
    actor: uuid.UUID | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Appointment:
    allowed, target = TRANSITIONS[action]
    if row.status not in allowed:
        raise Conflict(
            f"A {row.status.value} appointment cannot be {action.replace('_', '-')}ed.",
            code="invalid_transition",
        )
    if action == "cancel" and not business:
        await _within_notice(session, row, now)
    row.status = target
    if action == "cancel":
        row.cancel_reason = (reason or "").strip()[:500] or None
        row.cancelled_by = actor
    row.sequence += 1  # every change: calendars replace their copy
    await session.flush()
    if action == "cancel":
        await deposits.refund_on_cancel(platform, session, row)
    if action in ("confirm", "cancel"):
        event = "appointment.confirmed" if action == "confirm" else "appointment.cancelled"
        await notices.tell(platform, session, row, event, actor=actor)
    return row


async def reschedule(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    start: datetime | None,
    staff_id: uuid.UUID | None,
    now: datetime | None = None,
) -> Appointment:
    """Move an open appointment to a free slot, in one transaction (409 ``slot_taken`` if
    it was taken meanwhile; the old time is released by the same statement)."""
    row = await _locked_visible(session, principal, appointment_id)
    return await _move(
        platform, session, row, business=_is_business(principal, row),
        actor=principal.user_id, start=start, staff_id=staff_id, now=now,
    )  # fmt: skip


async def _move(
    platform: Platform,
    session: AsyncSession,
    row: Appointment,
    *,
    business: bool,
    actor: uuid.UUID | None,
    start: datetime | None,
    staff_id: uuid.UUID | None,
    now: datetime | None = None,
) -> Appointment:
    if start is None:
        raise Unprocessable("Give the new start.", code="validation_error")
    if row.status not in OPEN_APPOINTMENT:
        raise Conflict(f"A {row.status.value} appointment cannot move.", code="invalid_transition")
    if not business:
        await _within_notice(session, row, now)
    profile = await BookingRepository(session).profile(row.client_id)
    if profile is None or row.service_id is None:
        raise Unprocessable("This appointment's service is gone; book a new one.")
    offered = await BookingRepository(session).service(row.client_id, row.service_id)
    if offered is None:
        raise Unprocessable("This appointment's service is gone; book a new one.")
    start = instant(start)
    wanted = staff_id or row.staff_id
    # Its own time is free to move into: availability is read without it.
    free = await availability(
        session,
        profile,
        service_id=offered.id,
        first=start.astimezone(zone_of(profile.timezone)).date(),
        days=1,
        staff_id=wanted,
        ignore=row.id,
    )
    if not any(slot_start == start for slot_start, _, _ in free):
        raise Unprocessable(
            "Nobody can take that service at that time; choose one of the free slots.",
            code="outside_availability",
        )
    row.staff_id = wanted
    moved = await appointments.move(
        session, row, starts_at=start, buffer_minutes=offered.buffer_minutes
    )
    await notices.tell(platform, session, moved, "appointment.rescheduled", actor=actor)
    return moved


# --- by the signed link in an email --------------------------------------------------------


async def peek_link(
    session: AsyncSession, appointment_id: uuid.UUID, token: str, *, now: datetime | None = None
) -> Appointment:
    """The appointment a link's holder may manage, without spending the link; 404 for a
    wrong, used or expired one (the same answer for all: a guess learns nothing)."""
    moment = now or datetime.now(UTC)
    repository = AppointmentRepository(session)
    found = await repository.manage_token(
        sha256(token), notices.MANAGE, appointment_id, moment, lock=False
    )
    row = await repository.by_id(appointment_id) if found else None
    if row is None:
        raise NotFound("This link has been used or has expired. Sign in to see the appointment.")
    return row


async def act_by_link(
    platform: Platform,
    session: AsyncSession,
    appointment_id: uuid.UUID,
    token: str,
    *,
    action: Literal["cancel", "reschedule"],
    reason: str | None = None,
    start: datetime | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Cancel or move as the customer (the notice applies), spending the link."""
    moment = now or datetime.now(UTC)
    repository = AppointmentRepository(session)
    link = await repository.manage_token(sha256(token), notices.MANAGE, appointment_id, moment)
    row = await repository.by_id(appointment_id, lock=True) if link else None
    if link is None or row is None:
        raise NotFound("This link has been used or has expired. Sign in to see the appointment.")
    link.used_at = moment
    if action == "cancel":
        return await _apply(
            platform, session, row, "cancel", business=False, actor=row.customer_id,
            reason=reason, now=moment,
        )  # fmt: skip
    return await _move(
        platform, session, row, business=False, actor=row.customer_id, start=start,
        staff_id=None, now=moment,
    )  # fmt: skip


async def _locked_visible(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> Appointment:
    found = await AppointmentRepository(session).visible(principal, appointment_id, lock=True)
    if found is None:
        raise NotFound("No such appointment.")
    return found


async def _within_notice(session: AsyncSession, row: Appointment, now: datetime | None) -> None:
    profile = await BookingRepository(session).profile(row.client_id)
    hours = profile.cancellation_notice_hours if profile else 0
    if (now or datetime.now(UTC)) > row.starts_at - timedelta(hours=hours):
        raise Conflict(
            f"Changes are possible up to {hours} hours before; ask the business.",
            code="too_late",
        )


async def cancel_unconfirmed(platform: Platform, session: AsyncSession, now: datetime) -> int:
    """Pending appointments the business did not confirm within a day are cancelled (the
    job runs hourly; a conditional update, so one confirmed meanwhile stays), and their
    customers told."""
    repository = AppointmentRepository(session)
    ids = await repository.cancel_pending_before(now - UNCONFIRMED_FOR)
    for appointment_id in ids:
        row = await repository.by_id(appointment_id, lock=True)
        if row is not None:
            await notices.tell(platform, session, row, "appointment.cancelled")
    return len(ids)
