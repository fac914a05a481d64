"""What booking tells people, through the notifications module: the customer about their
appointment (created, confirmed, cancelled, moved, reminders 24 h and 2 h before) with the
``.ics`` and a single-use link to cancel or move it without signing in; the staff member
about their calendar. Each message is raised in the transaction of the change it reports,
keyed by the appointment, the event and its SEQUENCE, so it is sent once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import calendar
from studioflow.booking.repository import AppointmentRepository, BookingRepository, StaffRepository
from studioflow.identity.tokens import random_token, sha256
from studioflow.models import OPEN_APPOINTMENT, ActionToken, Appointment, BookingProfile
from studioflow.notifications import service as notifications
from studioflow.notifications.content import Attachment, Message
from studioflow.platform.runtime import Platform

MANAGE = "appointment_manage"
REMINDERS = (("24h", timedelta(hours=24)), ("2h", timedelta(hours=2)))

_WHAT = {
    "appointment.created": ("Booked", "New booking"),
    "appointment.confirmed": ("Confirmed", "Confirmed"),
    "appointment.cancelled": ("Cancelled", "Cancelled"),
    "appointment.rescheduled": ("Moved", "Moved"),
    "appointment.reminder": ("Reminder", "Reminder"),
}


def when(row: Appointment) -> str:
    return f"{row.local_date:%a %d %b %Y} at {row.local_time} ({row.timezone})"


async def manage_link(platform: Platform, session: AsyncSession, row: Appointment) -> str | None:
    """A fresh single-use link for the customer, valid until the appointment starts."""
    if row.customer_id is None or row.status not in OPEN_APPOINTMENT:
        return None
    token = random_token(32)
    session.add(
        ActionToken(
            purpose=MANAGE,
            token_hash=sha256(token),
            user_id=row.customer_id,
            data={"appointment_id": str(row.id)},
            expires_at=row.starts_at,
        )
    )
    await session.flush()
    return f"{platform.settings.base_url}/appointments/{row.id}/manage?token={token}"


async def tell(
    platform: Platform,
    session: AsyncSession,
    row: Appointment,
    event: str,
    *,
    actor: uuid.UUID | None = None,
    key: str | None = None,
) -> bool:
    """Tell the customer about ``event`` (always: their calendar takes the new invitation,
    even of a change they made) and the staff member (unless they made it). False when
    the customer was told of this key already (a retried job, the next reminder run)."""
    business = await BookingRepository(session).profile(row.client_id)
    staff = await StaffRepository(session).by_id(row.staff_id)
    staff_name = staff.display_name if staff else ""
    key = key or f"appointment:{row.id}:{event}:{row.sequence}"
    invitation = calendar.ics(row, business, staff_name=staff_name)
    attachment = Attachment(
        "appointment.ics", f"text/calendar; method={calendar.method(row)}", invitation
    )
    customer = row.customer_id
    fresh = customer is not None and not await notifications.told(session, customer, key)
    if customer is not None and fresh:
        # Checked first so that a repeat mints no manage link nobody will receive.
        link = await manage_link(platform, session, row)
        message = _customer_message(row, business, staff_name, event, link, attachment)
        await notifications.notify(
            platform, session, user_id=customer, event=event, key=key, message=message
        )
    if staff is not None and staff.user_id != actor and event != "appointment.reminder":
        title = f"{_WHAT[event][1]}: {row.service_name}, {when(row)}"
        await notifications.notify(
            platform,
            session,
            user_id=staff.user_id,
            event=event,
            key=key,
            message=Message(
                title=title[:200],
                body=f"Status: {row.status.value}." + (f" Notes: {row.notes}" if row.notes else ""),
                link=f"/appointments/{row.id}",
                attachments=(attachment,),
            ),
        )
    return fresh


def _customer_message(
    row: Appointment,
    business: BookingProfile | None,
    staff_name: str,
    event: str,
    link: str | None,
    attachment: Attachment,
) -> Message:
    place = business.name if business else "the business"
    title = f"{_WHAT[event][0]}: {row.service_name} at {place}"
    lines = [
        f"{row.service_name} with {staff_name}" if staff_name else row.service_name,
        when(row),
        f"Status: {row.status.value}",
    ]
    if row.status.value == "cancelled" and row.cancel_reason:
        lines.append(f"Reason: {row.cancel_reason}")
    if business and business.address:
        lines.append(business.address)
    text = "\n".join(lines)
    if link:
        text += (
            f"\n\nCancel or move it (no sign-in needed; the link works once): {link}\n"
            "The calendar invitation is attached."
        )
    html = "<p>" + "<br>".join(escape(line) for line in lines) + "</p>"
    if link:
        html += f'<p><a href="{escape(link)}">Cancel or move this appointment</a></p>'
    return Message(
        title=title[:200],
        body=f"{row.service_name}, {when(row)}",
        link=f"/appointments/{row.id}",
        email_subject=title[:200],
        email_text=text,
        email_html=html,
        sms=f"{title}. {when(row)}."[:300],
        attachments=(attachment,),
    )


REMINDER_PAGE = 200  # appointments per transaction: a run never holds the writer long


async def remind_page(
    platform: Platform, session: AsyncSession, now: datetime, label: str
) -> tuple[int, int]:
    """Handle the next page of ``label`` reminders due at ``now``: (appointments handled,
    customers told). Each lead reads only its own stretch (the 24 h reminder is not sent
    once the 2 h one is due), and only appointments whose reminder for their current start
    was not handled, so a run's work is what is new."""
    leads = dict(REMINDERS)
    shorter = max((lead for lead in leads.values() if lead < leads[label]), default=timedelta(0))
    repository = AppointmentRepository(session)
    rows = await repository.due_reminders(
        label, now + shorter, now + leads[label], limit=REMINDER_PAGE
    )
    told = 0
    for row in rows:
        if not await repository.claim_reminder(row.id, label, row.starts_at):
            continue  # another run has it
        # Booked after the reminder was due (a same-day booking): the confirmation just
        # said it all.
        if row.created_at > row.starts_at - leads[label]:
            continue
        key = f"appointment:{row.id}:reminder:{label}:{int(row.starts_at.timestamp())}"
        told += await tell(platform, session, row, "appointment.reminder", key=key)
    return len(rows), told


async def send_reminders(platform: Platform, now: datetime) -> int:
    """Remind customers 24 h and 2 h before: once per appointment, lead and start time
    (a moved appointment is reminded of its new time), whichever worker runs the cron; a
    transaction per page of appointments."""
    told = 0
    for label, _ in REMINDERS:
        while True:
            async with platform.db.transaction() as session:
                seen, page_told = await remind_page(platform, session, now, label)
            told += page_told
            if seen < REMINDER_PAGE:
                break
    return told
