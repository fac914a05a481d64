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

from studioflow.booking import appointments
from studioflow.booking.repository import AppointmentRepository, BookingRepository
from studioflow.booking.service import availability, instant, zone_of
from studioflow.identity.auth import Principal
from studioflow.models import OPEN_APPOINTMENT, Appointment, AppointmentStatus
from studioflow.platform.errors import Conflict, Forbidden, NotFound, Unprocessable
from studioflow.platform.pagination import PageParams

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
        row.cancelled_by = principal.user_id
        row.sequence += 1
    await session.flush()
    return row


async def reschedule(
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
    if start is None:
        raise Unprocessable("Give the new start.", code="validation_error")
    if row.status not in OPEN_APPOINTMENT:
        raise Conflict(f"A {row.status.value} appointment cannot move.", code="invalid_transition")
    if not _is_business(principal, row):
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
    return await appointments.move(
        session, row, starts_at=start, buffer_minutes=offered.buffer_minutes
    )


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


async def cancel_unconfirmed(session: AsyncSession, now: datetime) -> int:
    """Pending appointments the business did not confirm within a day are cancelled (the
    job runs hourly; a conditional update, so one confirmed meanwhile stays)."""
    return await AppointmentRepository(session).cancel_pending_before(now - UNCONFIRMED_FOR)
