"""Pages of booking. Customers: a business's public page ``/book/{slug}`` (service → who →
day → time → book, signing in or up on the way), their appointments, one appointment, and
the page of the emailed link (``/appointments/{id}/manage?token=…``, no sign-in). The
business: its profile, services, staff with hours and time off, a calendar by day or week,
and the list of appointments. Every change goes through the JSON API (api.js)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import lifecycle, service
from studioflow.models import Appointment, BookingProfile
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import AppError
from studioflow.platform.pagination import PageParams
from studioflow.web.auth import OptionalPage, Page, PageView, html_errors
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])
AnyPage = Annotated[PageView, Depends(Page())]
MaybeSignedIn = Annotated[PageView | None, Depends(OptionalPage())]
BusinessPage = Annotated[PageView, Depends(Page("booking:read"))]

STATUS_BADGE = {
    "pending": "badge-warning",
    "confirmed": "badge-success",
    "completed": "badge-info",
    "no_show": "badge-danger",
    "cancelled": "",
}


def _day(value: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(value) if value else fallback
    except ValueError:
        return fallback


@dataclass(frozen=True)
class SlotChoice:
    start: str  # ISO with the business's offset: what the API takes back
    label: str  # "09:30"
    staff_id: uuid.UUID
    staff_name: str


async def _slots(
    session: AsyncSession,
    business: BookingProfile,
    service_id: uuid.UUID,
    day: date,
    staff_id: uuid.UUID | None,
    names: dict[uuid.UUID, str],
    *,
    ignore: uuid.UUID | None = None,
) -> list[SlotChoice]:
    zone = ZoneInfo(business.timezone)
    try:
        free = await service.availability(
            session, business, service_id=service_id, first=day, days=1, staff_id=staff_id,
            ignore=ignore,
        )  # fmt: skip
    except AppError:
        return []
    seen: set[datetime] = set()
    choices = []
    for start, _, staff in free:
        if staff_id is None and start in seen:
            continue  # "anyone": one button a time, the first free person takes it
        seen.add(start)
        local = start.astimezone(zone)
        choices.append(
            SlotChoice(local.isoformat(), local.strftime("%H:%M"), staff, names.get(staff, ""))
        )
    return choices


# --- customers -----------------------------------------------------------------------------


@router.get("/book/{slug}", response_class=HTMLResponse)
async def book_page(
    request: Request,
    slug: str,
    session: SessionDep,
    page: MaybeSignedIn,
    service_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    day: str | None = None,
) -> Response:
    business = await service.business(session, slug)
    zone = ZoneInfo(business.timezone)
    today = datetime.now(zone).date()
    offered = [
        v for v in await service.services(session, business.client_id) if v.service.is_active
    ]
    staff = await service.staff_views(session, business.client_id, active_only=True)
    names = {s.staff.id: s.staff.display_name for s in staff}
    chosen = next((v for v in offered if v.service.id == service_id), None)
    chosen_day = min(max(_day(day, today), today), today + timedelta(days=business.horizon_days))
    performers = [s for s in staff if chosen and s.staff.id in chosen.staff_ids]
    if staff_id is not None and staff_id not in {s.staff.id for s in performers}:
        staff_id = None
    slots = (
        await _slots(session, business, chosen.service.id, chosen_day, staff_id, names)
        if chosen
        else []
    )
    here = f"/book/{slug}?" + urlencode(
        {k: v for k, v in {"service_id": service_id, "staff_id": staff_id, "day": day}.items() if v}
    )
    context: dict[str, Any] = dict(page.context) if page else {}
    context.update(
        business=business,
        categories=await service.categories(session, business.client_id),
        offered=offered,
        chosen=chosen,
        performers=performers,
        staff_id=staff_id,
        day=chosen_day,
        today=today,
        last_day=today + timedelta(days=business.horizon_days),
        days=[
            chosen_day + timedelta(days=n)
            for n in range(-1, 6)
            if chosen_day + timedelta(days=n) >= today
        ],
        slots=slots,
        signed_in=page is not None,
        here=here,
    )
    return render(request, "booking/book.html", context)


@router.get("/appointments", response_class=HTMLResponse)
async def my_appointments(
    request: Request, session: SessionDep, page: AnyPage, cursor: str | None = None
) -> Response:
    rows, next_cursor = await lifecycle.listed(
        session, page.principal, PageParams(limit=30, cursor=cursor), as_business=False,
        status=None, start=None, end=None, staff_id=None,
    )  # fmt: skip
    context = page.context
    context.update(appointments=rows, next_cursor=next_cursor, badges=STATUS_BADGE)
    return render(request, "booking/mine.html", context)


async def _detail_context(
    session: AsyncSession, row: Appointment, day: str | None
) -> dict[str, Any]:
    """What an appointment's page shows: its business, staff, and free times to move to."""
    profile = await service.business_of(session, row.client_id)
    staff = await service.staff_views(session, row.client_id, active_only=True)
    names = {s.staff.id: s.staff.display_name for s in staff}
    zone = ZoneInfo(row.timezone)
    today = datetime.now(zone).date()
    wanted = _day(day, row.local_date if row.local_date >= today else today)
    chosen_day = min(max(wanted, today), today + timedelta(days=366))
    slots: list[SlotChoice] = []
    if (
        profile is not None
        and row.service_id is not None
        and row.status.value in ("pending", "confirmed")
    ):
        slots = await _slots(
            session, profile, row.service_id, chosen_day, row.staff_id, names, ignore=row.id
        )
    return {
        "appointment": row,
        "business": profile,
        "staff_name": names.get(row.staff_id, ""),
        "day": chosen_day,
        "today": today,
        "slots": slots,
        "badges": STATUS_BADGE,
        "open": row.status.value in ("pending", "confirmed"),
    }


@router.get("/appointments/{appointment_id}", response_class=HTMLResponse)
async def appointment_page(
    request: Request,
    appointment_id: uuid.UUID,
    session: SessionDep,
    page: AnyPage,
    day: str | None = None,
) -> Response:
    row = await lifecycle.get(session, page.principal, appointment_id)
    context = page.context
    context.update(await _detail_context(session, row, day))
    context["is_business"] = page.principal.client_id == row.client_id and page.principal.can(
        "booking:read"
    )
    context["is_customer"] = row.customer_id == page.principal.user_id
    return render(request, "booking/appointment.html", context)


@router.get("/appointments/{appointment_id}/manage", response_class=HTMLResponse)
async def manage_page(
    request: Request,
    appointment_id: uuid.UUID,
    session: SessionDep,
    page: MaybeSignedIn,
    token: str = "",
    day: str | None = None,
) -> Response:
    """The emailed link's page: looking does not spend the link; cancelling or moving
    does. A used or expired link is the 404 page, which says so."""
    row = await lifecycle.peek_link(session, appointment_id, token)
    context: dict[str, Any] = dict(page.context) if page else {}
    context.update(await _detail_context(session, row, day))
    context["token"] = token
    return render(request, "booking/manage.html", context)


@router.get("/appointments/{appointment_id}/manage/done", response_class=HTMLResponse)
async def manage_done(request: Request, appointment_id: uuid.UUID, page: MaybeSignedIn) -> Response:
    """Where the link's page lands once spent: says so, shows nothing of the appointment."""
    context: dict[str, Any] = dict(page.context) if page else {}
    return render(request, "booking/manage_done.html", context)


# --- the business --------------------------------------------------------------------------


async def _business_context(session: AsyncSession, page: PageView) -> dict[str, Any]:
    client_id = page.principal.client_id
    context = page.context
    context.update(
        profile=await service.business_of(session, client_id),
        can_manage=page.principal.can("booking:manage"),
    )
    return context


@router.get("/booking", response_class=HTMLResponse)
async def business_home(request: Request, session: SessionDep, page: BusinessPage) -> Response:
    context = await _business_context(session, page)
    context["timezones"] = COMMON_ZONES
    return render(request, "booking/business.html", context)


@router.get("/booking/services", response_class=HTMLResponse)
async def business_services(request: Request, session: SessionDep, page: BusinessPage) -> Response:
    context = await _business_context(session, page)
    client_id = page.principal.client_id
    context.update(
        categories=await service.categories(session, client_id),
        offered=await service.services(session, client_id),
        staff=await service.staff_views(session, client_id),
    )
    return render(request, "booking/services.html", context)


@router.get("/booking/staff", response_class=HTMLResponse)
async def business_staff(request: Request, session: SessionDep, page: BusinessPage) -> Response:
    context = await _business_context(session, page)
    client_id = page.principal.client_id
    staff = await service.staff_views(session, client_id)
    context.update(
        staff=staff,
        offered=await service.services(session, client_id),
        members=await service.bookable_members(session, page.principal),
        exceptions=await service.business_exceptions(session, page.principal),
        weekdays=WEEKDAYS,
    )
    return render(request, "booking/staff.html", context)


@router.get("/booking/calendar", response_class=HTMLResponse)
async def business_calendar(
    request: Request,
    session: SessionDep,
    page: BusinessPage,
    day: str | None = None,
    view: str = "day",
    staff_id: uuid.UUID | None = None,
) -> Response:
    context = await _business_context(session, page)
    profile = context["profile"]
    zone = ZoneInfo(profile.timezone) if profile else UTC
    # Clamped to years a UTC conversion can hold.
    first = min(max(_day(day, datetime.now(zone).date()), date(1970, 1, 1)), date(9000, 1, 1))
    if view == "week":
        first -= timedelta(days=first.weekday())
    length = 7 if view == "week" else 1
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(first + timedelta(days=length), datetime.min.time(), tzinfo=zone)
    rows, _ = await lifecycle.listed(
        session, page.principal, PageParams(limit=200), as_business=True, status=None,
        start=start, end=end, staff_id=staff_id,
    )  # fmt: skip
    staff = await service.staff_views(session, page.principal.client_id)
    by_day: dict[date, list[Appointment]] = {first + timedelta(days=n): [] for n in range(length)}
    for row in sorted(rows, key=lambda r: r.starts_at):
        by_day.setdefault(row.local_date, []).append(row)
    step = timedelta(days=length)
    context.update(
        view="week" if view == "week" else "day",
        first=first,
        previous=(first - step).isoformat(),
        following=(first + step).isoformat(),
        by_day=by_day,
        staff=staff,
        staff_id=staff_id,
        names={s.staff.id: s.staff.display_name for s in staff},
        badges=STATUS_BADGE,
    )
    return render(request, "booking/calendar.html", context)


@router.get("/booking/appointments", response_class=HTMLResponse)
async def business_appointments(
    request: Request,
    session: SessionDep,
    page: BusinessPage,
    status: str | None = None,
    staff_id: uuid.UUID | None = None,
    day_from: str | None = None,
    day_to: str | None = None,
    cursor: str | None = None,
) -> Response:
    context = await _business_context(session, page)
    profile = context["profile"]
    zone = ZoneInfo(profile.timezone) if profile else UTC
    status = status if status in STATUS_BADGE else None
    # Clamped to years a UTC conversion can hold (year 1 at a positive offset cannot).
    midnight = datetime.min.time()
    start = (
        datetime.combine(max(_day(day_from, date.min), date(1970, 1, 1)), midnight, zone)
        if day_from
        else None
    )
    last = min(_day(day_to, date.max), date(9000, 1, 1))
    end = datetime.combine(last + timedelta(days=1), midnight, zone) if day_to else None
    rows, next_cursor = await lifecycle.listed(
        session, page.principal, PageParams(limit=50, cursor=cursor), as_business=True,
        status=status, start=start, end=end, staff_id=staff_id,
    )  # fmt: skip
    staff = await service.staff_views(session, page.principal.client_id)
    filters = {"status": status, "staff_id": staff_id, "day_from": day_from, "day_to": day_to}
    context.update(
        appointments=rows,
        next_cursor=next_cursor,
        staff=staff,
        names={s.staff.id: s.staff.display_name for s in staff},
        filters=filters,
        more=urlencode({k: v for k, v in filters.items() if v}),
        badges=STATUS_BADGE,
    )
    return render(request, "booking/appointments.html", context)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
COMMON_ZONES = (
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome",
    "Europe/Istanbul", "Africa/Lagos", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo",
    "America/Mexico_City",
)  # fmt: skip
