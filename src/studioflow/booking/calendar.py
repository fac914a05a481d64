"""An appointment as an iCalendar (RFC 5545) invitation: one stable UID per appointment, its
SEQUENCE raised on every change (calendars replace the older copy), ``METHOD:CANCEL`` once
it is cancelled so the customer's calendar removes it. Times are written in UTC, which every
calendar shows in its owner's zone without a VTIMEZONE to get wrong."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event

from studioflow.models import Appointment, AppointmentStatus, BookingProfile

PRODID = "-//Studioflow//Booking//EN"
_STATUS = {
    AppointmentStatus.pending: "TENTATIVE",
    AppointmentStatus.confirmed: "CONFIRMED",
    AppointmentStatus.completed: "CONFIRMED",
    AppointmentStatus.no_show: "CONFIRMED",
    AppointmentStatus.cancelled: "CANCELLED",
}


def uid(appointment: Appointment) -> str:
    return f"appointment-{appointment.id}@studioflow"


def method(appointment: Appointment) -> str:
    return "CANCEL" if appointment.status is AppointmentStatus.cancelled else "REQUEST"


def ics(
    appointment: Appointment,
    business: BookingProfile | None,
    *,
    staff_name: str = "",
    link: str | None = None,
    now: datetime | None = None,
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method(appointment))
    event = Event()
    event.add("uid", uid(appointment))
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", now or datetime.now(UTC))
    event.add("dtstart", appointment.starts_at.astimezone(UTC))
    event.add("dtend", appointment.ends_at.astimezone(UTC))
    name = business.name if business else ""
    event.add(
        "summary", f"{appointment.service_name} · {name}" if name else appointment.service_name
    )
    details = [f"With {staff_name}" if staff_name else "", appointment.notes]
    if link:
        details.append(f"Details: {link}")
    event.add("description", "\n".join(d for d in details if d))
    if business and business.address:
        event.add("location", business.address)
    event.add("status", _STATUS[appointment.status])
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
