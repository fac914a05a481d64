"""Taking a staff member's time. The database refuses overlapping open appointments (see
``models/booking.py``); this module turns that refusal into 409 ``slot_taken`` and keeps
the appointment's times consistent: the UTC range, the buffer after it, and the wall time
in the business's zone that the customer chose."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking.repository import StaffRepository
from studioflow.models import Appointment, AppointmentStatus, Service
from studioflow.platform.errors import Conflict, Unprocessable

# What the two backends say when the no-overlap guarantee refuses a write: the SQLite
# triggers' message and the PostgreSQL exclusion constraint's name.
_OVERLAP_MARKS = ("slot_taken", "ex_appointments_no_overlap")


def slot_taken(error: IntegrityError) -> bool:
    return any(mark in str(error.orig) for mark in _OVERLAP_MARKS)


async def book(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    staff_id: uuid.UUID,
    service: Service,
    starts_at: datetime,
    timezone: str,
    customer_id: uuid.UUID | None,
    status: AppointmentStatus = AppointmentStatus.pending,
    notes: str = "",
) -> Appointment:
    """Hold ``service``'s duration (and buffer) of the staff member from ``starts_at``; 409
    ``slot_taken`` when an open appointment of theirs overlaps, decided by the database, so
    two customers racing for one slot cannot both get it."""
    if starts_at.tzinfo is None:
        raise Unprocessable("The start needs a UTC offset.", code="validation_error")
    # Racing inserts that conflict under an exclusion constraint can deadlock each other on
    # PostgreSQL (each waits for the other's check); taking the staff row first makes the
    # racers queue instead, and the constraint still decides.
    await StaffRepository(session).lock(staff_id)
    local = starts_at.astimezone(ZoneInfo(timezone))
    ends_at = starts_at + timedelta(minutes=service.duration_minutes)
    appointment = Appointment(
        client_id=client_id,
        staff_id=staff_id,
        service_id=service.id,
        customer_id=customer_id,
        status=status,
        local_date=local.date(),
        local_time=local.strftime("%H:%M"),
        timezone=timezone,
        starts_at=starts_at,
        ends_at=ends_at,
        blocked_until=ends_at + timedelta(minutes=service.buffer_minutes),
        service_name=service.name,
        price_minor=service.price_minor,
        currency=service.currency,
        notes=notes,
    )
    session.add(appointment)
    await _flush(session)
    return appointment


async def move(
    session: AsyncSession, appointment: Appointment, *, starts_at: datetime, buffer_minutes: int
) -> Appointment:
    """Reschedule in place (one statement): the same checks as booking, by the database."""
    await StaffRepository(session).lock(appointment.staff_id)
    length = appointment.ends_at - appointment.starts_at
    appointment.starts_at = starts_at
    appointment.ends_at = starts_at + length
    appointment.blocked_until = appointment.ends_at + timedelta(minutes=buffer_minutes)
    local = starts_at.astimezone(ZoneInfo(appointment.timezone))
    appointment.local_date, appointment.local_time = local.date(), local.strftime("%H:%M")
    appointment.sequence += 1
    await _flush(session)
    return appointment


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as error:
        if slot_taken(error):
            raise Conflict(
                "That time was just taken; choose another slot.", code="slot_taken"
            ) from None
        raise
