"""The business side of booking: its profile, service categories, services, staff and their
hours; the public view by slug, availability, and booking an appointment as a customer.
Every object is the active client's (another client's id answers 404)."""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import appointments, calendar, deposits, notices
from studioflow.booking.availability import DayRange, free_starts, from_seconds
from studioflow.booking.repository import (
    AppointmentRepository,
    BookingRepository,
    Schedule,
    ScheduleRepository,
    StaffRepository,
)
from studioflow.clients import service as clients
from studioflow.identity.auth import Principal
from studioflow.media import service as media
from studioflow.models import (
    Appointment,
    AppointmentStatus,
    BookingProfile,
    ExceptionKind,
    Service,
    ServiceCategory,
    StaffException,
    StaffMember,
    WorkingHours,
)
from studioflow.payments import service as payments
from studioflow.platform.errors import Conflict, NotFound, Unprocessable
from studioflow.platform.runtime import Platform

RESERVED_SLUGS = frozenset({"profile", "staff", "artists"})
# Fields a change may set to null; any other null in a change means "keep".
NULLABLE = frozenset({"category_id", "image_id", "avatar_image_id", "location", "deposit"})


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None or k in NULLABLE}


SLOT_SECONDS = 15 * 60  # the grid of starts from each window's opening
NOTICE = timedelta(minutes=30)  # the soonest a customer can book
MAX_DAYS = 14


def instant(value: datetime) -> datetime:
    """``value`` in UTC; 422 for a moment at the calendar's very ends (year 1 at a positive
    offset cannot be written in UTC at all)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise Unprocessable("That moment is out of range.", code="validation_error") from None


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(f"Unknown time zone {name!r}.", code="invalid_timezone") from None


# --- the profile -------------------------------------------------------------------------


async def profile(session: AsyncSession, principal: Principal) -> BookingProfile:
    found = await BookingRepository(session).profile(principal.client_id)
    if found is None:
        raise NotFound("This workspace has no booking profile yet.")
    return found


async def put_profile(
    session: AsyncSession, principal: Principal, values: dict[str, Any]
) -> BookingProfile:
    zone_of(values["timezone"])
    if values["slug"] in RESERVED_SLUGS:
        raise Unprocessable("That address is reserved.", code="slug_taken")
    repository = BookingRepository(session)
    taken = await repository.profile_by_slug(values["slug"])
    if taken is not None and taken.client_id != principal.client_id:
        raise Conflict("Another business has that address.", code="slug_taken")
    location = values.pop("location", None)
    row = await repository.profile(principal.client_id)
    if row is None:
        row = BookingProfile(client_id=principal.client_id)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.latitude, row.longitude = (location["lat"], location["lng"]) if location else (None, None)
    await session.flush()
    return row


# --- categories and services -------------------------------------------------------------


async def categories(session: AsyncSession, client_id: uuid.UUID) -> list[ServiceCategory]:
    return await BookingRepository(session).categories(client_id)


async def category(
    session: AsyncSession, principal: Principal, category_id: uuid.UUID
) -> ServiceCategory:
    found = await BookingRepository(session).category(principal, category_id)
    if found is None:
        raise NotFound("No such category.")
    return found


async def save_category(
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    category_id: uuid.UUID | None = None,
) -> ServiceCategory:
    row = (
        await category(session, principal, category_id)
        if category_id
        else ServiceCategory(client_id=principal.client_id)
    )
    for key, value in _changes(values).items():
        setattr(row, key, value)
    session.add(row)
    await session.flush()
    return row


async def delete_category(
    session: AsyncSession, principal: Principal, category_id: uuid.UUID
) -> None:
    await session.delete(await category(session, principal, category_id))
    await session.flush()


@dataclass(frozen=True)
class ServiceView:
    service: Service
    staff_ids: list[uuid.UUID]


async def services(session: AsyncSession, client_id: uuid.UUID) -> list[ServiceView]:
    repository = BookingRepository(session)
    rows = await repository.services(client_id)
    performers = await repository.performers([s.id for s in rows])
    return [ServiceView(s, performers.get(s.id, [])) for s in rows]


async def service(session: AsyncSession, principal: Principal, service_id: uuid.UUID) -> Service:
    found = await BookingRepository(session).service(principal.client_id, service_id)
    if found is None:
        raise NotFound("No such service.")
    return found


async def save_service(
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    service_id: uuid.UUID | None = None,
) -> ServiceView:
    """Create a service or change some of its values; its category, image and staff must
    be this business's (404 otherwise)."""
    repository = BookingRepository(session)
    row = (
        await service(session, principal, service_id)
        if service_id
        else Service(client_id=principal.client_id)
    )
    values = _changes(values)
    if values.get("category_id") is not None:
        await category(session, principal, values["category_id"])
    if values.get("image_id") is not None:
        await media.get_image(session, principal, values["image_id"])
    staff_ids = values.pop("staff_ids", None)
    if staff_ids is not None:
        staff_ids = list(dict.fromkeys(staff_ids))
        await _own_staff(session, principal, staff_ids)
    price = values.pop("price", None)
    if price is not None:
        row.price_minor, row.currency = price["amount"], price["currency"]
    if "deposit" in values:
        deposit = values.pop("deposit")
        row.deposit_minor = deposit["amount"] if deposit else None
        if deposit and (
            deposit["currency"] != row.currency or not 0 < deposit["amount"] <= row.price_minor
        ):
            raise Unprocessable(
                "A deposit is more than zero, at most the price, in the price's currency.",
                code="invalid_deposit",
            )
    if row.deposit_minor and row.deposit_minor > row.price_minor:
        raise Unprocessable("The deposit is more than the new price.", code="invalid_deposit")
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    await session.flush()
    if staff_ids is not None:
        await repository.set_performers_of_service(row.id, staff_ids)
    performers = (await repository.performers([row.id])).get(row.id, [])
    return ServiceView(row, performers)


async def delete_service(
    session: AsyncSession, principal: Principal, service_id: uuid.UUID
) -> None:
    """Booked appointments keep their own copy of the name and price (service_id goes null)."""
    await session.delete(await service(session, principal, service_id))
    await session.flush()


# --- staff -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffView:
    staff: StaffMember
    service_ids: list[uuid.UUID]
    hours: list[WorkingHours]


async def _own_staff(
    session: AsyncSession, principal: Principal, staff_ids: list[uuid.UUID]
) -> None:
    found = await StaffRepository(session).ids_of(principal.client_id, staff_ids)
    if len(found) != len(set(staff_ids)):
        raise NotFound("No such staff member.")


async def staff_views(
    session: AsyncSession, client_id: uuid.UUID, *, active_only: bool = False
) -> list[StaffView]:
    repository = StaffRepository(session)
    rows = await repository.of_client_all(client_id, active_only=active_only)
    ids = [s.id for s in rows]
    performs = await repository.services_of(ids)
    hours = await repository.hours_of(ids)
    return [StaffView(s, performs.get(s.id, []), hours.get(s.id, [])) for s in rows]


async def bookable_members(session: AsyncSession, principal: Principal) -> list[tuple[Any, str]]:
    """Members of the workspace who are not staff yet: (user id, how to call them)."""
    staff = {s.user_id for s in await StaffRepository(session).of_client_all(principal.client_id)}
    return [
        (user.id, " ".join(p for p in (user.first_name, user.last_name) if p) or user.email)
        for _, user in await clients.members(session, principal)
        if user.id not in staff
    ]


async def staff_member(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID
) -> StaffMember:
    found = await StaffRepository(session).of_business(principal.client_id, staff_id)
    if found is None:
        raise NotFound("No such staff member.")
    return found


async def save_staff(
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    staff_id: uuid.UUID | None = None,
) -> StaffView:
    repository = StaffRepository(session)
    values = _changes(values)
    if staff_id is None:
        user_id = values.pop("user_id")
        if not await repository.is_member(principal.client_id, user_id):
            raise NotFound("No such member of this workspace.")
        if await repository.by_user(principal.client_id, user_id) is not None:
            raise Conflict("That member is staff already.", code="already_exists")
        row = StaffMember(client_id=principal.client_id, user_id=user_id)
    else:
        row = await staff_member(session, principal, staff_id)
    if values.get("avatar_image_id") is not None:
        await media.get_image(session, principal, values["avatar_image_id"])
    service_ids = values.pop("service_ids", None)
    if service_ids is not None:
        service_ids = list(dict.fromkeys(service_ids))
        for service_id in service_ids:
            await service(session, principal, service_id)
    if "location" in values:
        location = values.pop("location")
        row.latitude, row.longitude = (
            (location["lat"], location["lng"]) if location else (None, None)
        )
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    await session.flush()
    if service_ids is not None:
        await repository.set_services(row.id, service_ids)
    performs = (await repository.services_of([row.id])).get(row.id, [])
    return StaffView(row, performs, await repository.hours(row.id))


async def delete_staff(session: AsyncSession, principal: Principal, staff_id: uuid.UUID) -> None:
    await session.delete(await staff_member(session, principal, staff_id))
    await session.flush()


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


async def set_hours(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, ranges: list[dict[str, Any]]
) -> StaffView:
    """Replace the weekly hours; ranges of one weekday must not overlap."""
    row = await staff_member(session, principal, staff_id)
    parsed = sorted((r["weekday"], _minutes(r["start"]), _minutes(r["end"])) for r in ranges)
    for _, start, end in parsed:
        if end <= start:
            raise Unprocessable("A range ends after it starts.", code="invalid_hours")
    for (day_a, _, end_a), (day_b, start_b, _) in itertools.pairwise(parsed):
        if day_a == day_b and start_b < end_a:
            raise Unprocessable("Ranges of one day overlap.", code="invalid_hours")
    repository = StaffRepository(session)
    await repository.replace_hours(
        row.id,
        [
            WorkingHours(staff_id=row.id, weekday=d, start_minute=s, end_minute=e)
            for d, s, e in parsed
        ],
    )
    return StaffView(
        row,
        (await repository.services_of([row.id])).get(row.id, []),
        await repository.hours(row.id),
    )


EXCEPTION_MAX_DAYS = 366


async def exceptions(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, *, now: datetime | None = None
) -> list[StaffException]:
    """The staff member's exceptions that have not ended yet, soonest first."""
    row = await staff_member(session, principal, staff_id)
    return await StaffRepository(session).upcoming_exceptions(row.id, now or datetime.now(UTC))


async def business_exceptions(
    session: AsyncSession, principal: Principal, *, now: datetime | None = None
) -> dict[uuid.UUID, list[StaffException]]:
    """:func:`exceptions` of every staff member of the active business, by staff id."""
    return await StaffRepository(session).upcoming_exceptions_of_business(
        principal.client_id, now or datetime.now(UTC)
    )


async def add_exception(
    session: AsyncSession,
    principal: Principal,
    staff_id: uuid.UUID,
    *,
    starts_at: datetime | None,
    ends_at: datetime | None,
    kind: str,
    reason: str,
) -> StaffException:
    """Time off (no slots then, even inside the weekly hours) or extra hours (slots then,
    even outside them). Appointments already booked in time off stay: the business moves
    or cancels them itself, with the customer told."""
    row = await staff_member(session, principal, staff_id)
    if starts_at is None or ends_at is None:
        raise Unprocessable("Give the start and the end.", code="validation_error")
    starts_at, ends_at = instant(starts_at), instant(ends_at)
    if ends_at <= starts_at:
        raise Unprocessable("It ends after it starts.", code="invalid_hours")
    if ends_at - starts_at > timedelta(days=EXCEPTION_MAX_DAYS):
        raise Unprocessable("At most a year at a time.", code="invalid_hours")
    exception = StaffException(
        staff_id=row.id,
        kind=ExceptionKind(kind),
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip(),
    )
    session.add(exception)
    await session.flush()
    return exception


async def delete_exception(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, exception_id: uuid.UUID
) -> None:
    row = await staff_member(session, principal, staff_id)
    found = await StaffRepository(session).exception(row.id, exception_id)
    if found is None:
        raise NotFound("No such exception.")
    await session.delete(found)
    await session.flush()


# --- the public side ---------------------------------------------------------------------


async def business(session: AsyncSession, slug: str) -> BookingProfile:
    found = await BookingRepository(session).profile_by_slug(slug)
    if found is None:
        raise NotFound("No business has that address.")
    return found


async def business_of(session: AsyncSession, client_id: uuid.UUID) -> BookingProfile | None:
    """The profile of an appointment's business (for showing it; no principal involved)."""
    return await BookingRepository(session).profile(client_id)


async def availability(
    session: AsyncSession,
    found: BookingProfile,
    *,
    service_id: uuid.UUID,
    first: date,
    days: int,
    staff_id: uuid.UUID | None,
    now: datetime | None = None,
    ignore: uuid.UUID | None = None,
) -> list[tuple[datetime, datetime, uuid.UUID]]:
    """Free (start, end, staff) of the business for the service over ``days`` local days
    from ``first``, soonest first."""
    schedule = await ScheduleRepository(session).schedule(
        service_id, client_id=found.client_id, staff_id=staff_id
    )
    if schedule is None or not schedule.is_active:
        raise NotFound("No such service.")
    free = await open_slots(session, schedule, first=first, days=days, now=now, ignore=ignore)
    return [
        (from_seconds(start), from_seconds(start + free.length), free.staff[rank])
        for start, rank in free.slots
    ]


async def public_slots(
    session: AsyncSession,
    slug: str,
    *,
    service_id: uuid.UUID,
    first: date,
    days: int,
    staff_id: uuid.UUID | None,
) -> tuple[Schedule, OpenSlots]:
    """:func:`availability` of the business at ``slug``, for the public answer: in whole
    seconds and staff indexes (it writes thousands of slots and a few people), the
    business, service and staff read in one query."""
    schedule = await ScheduleRepository(session).schedule(service_id, slug=slug, staff_id=staff_id)
    if schedule is None:
        await business(session, slug)  # 404 for the address itself when it is the address
        raise NotFound("No such service.")
    if not schedule.is_active:
        raise NotFound("No such service.")
    return schedule, await open_slots(session, schedule, first=first, days=days)


@dataclass(frozen=True)
class OpenSlots:
    """Free slots as ``(start, index into staff)``, the start in whole seconds since the
    epoch, sorted by start and then staff id; every slot is ``length`` seconds long."""

    slots: list[tuple[int, int]]
    staff: list[uuid.UUID]
    length: int


async def open_slots(
    session: AsyncSession,
    schedule: Schedule,
    *,
    first: date,
    days: int,
    now: datetime | None = None,
    ignore: uuid.UUID | None = None,
) -> OpenSlots:
    """The free slots of the schedule's staff over ``days`` local days from ``first``:
    their hours, less time off, plus extra hours, less what is held (one query for all)."""
    if not 1 <= days <= MAX_DAYS:
        raise Unprocessable(f"From 1 to {MAX_DAYS} days.", code="validation_error")
    zone = zone_of(schedule.timezone)
    moment = now or datetime.now(UTC)
    today = moment.astimezone(zone).date()
    horizon = timedelta(days=schedule.horizon_days)
    if first < today - timedelta(days=1) or first > today + horizon:
        return OpenSlots([], [], 0)  # nothing is bookable before today or past the horizon
    local_days = [first + timedelta(days=n) for n in range(days)]
    window_start = datetime.combine(first - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    window_end = window_start + timedelta(days=days + 2)
    blocks = await ScheduleRepository(session).blocks_of(
        list(schedule.staff), window_start, window_end, ignore=ignore
    )
    length = schedule.duration_minutes * 60
    earliest = int((moment + NOTICE).timestamp())
    latest = int((moment + horizon).timestamp())
    # Sorted by (start, staff id) as integers: comparing UUIDs is Python code per pair.
    members = sorted(schedule.staff)
    keyed: list[tuple[int, int]] = []
    for rank, member in enumerate(members):
        held = blocks.get(member, {})
        starts = free_starts(
            days=local_days,
            ranges=[DayRange(*r) for r in schedule.staff[member]],
            zone=zone,
            length=length,
            pause=schedule.buffer_minutes * 60,
            stride=SLOT_SECONDS,
            extra=held.get(ExceptionKind.extra_hours, []),
            time_off=held.get(ExceptionKind.time_off, []),
            busy=held.get("held", []),
            first=earliest,
            last=latest,
        )
        keyed.extend(zip(starts, itertools.repeat(rank)))
    keyed.sort()
    return OpenSlots(keyed, members, length)


async def book(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    *,
    service_id: uuid.UUID,
    start: datetime,
    staff_id: uuid.UUID | None,
    notes: str,
    pay_with: payments.PayWith = "card",
) -> tuple[Appointment, payments.Started | None]:
    """Book the service at ``start`` as the signed-in customer: with the staff member asked
    for, or the first free one. 422 ``outside_availability`` when nobody works then; 409
    ``slot_taken`` when the time was taken meanwhile (the database decides). A service with
    a deposit: the appointment is pending until its payment (answered with it) succeeds."""
    prepared = await deposits.prepare(platform, session, service_id, pay_with)
    repository = BookingRepository(session)
    offered = await repository.service_anywhere(service_id)
    if offered is None or not offered.is_active:
        raise NotFound("No such service.")
    found = await repository.profile(offered.client_id)
    if found is None:
        raise NotFound("No such service.")
    start = instant(start)
    local_day = start.astimezone(zone_of(found.timezone)).date()
    free = await availability(
        session,
        found,
        service_id=service_id,
        first=local_day,
        days=1,
        staff_id=staff_id,
    )
    matching = [member for slot_start, _, member in free if slot_start == start]
    if not matching:
        # Only this service's performers: another business's staff id tells nothing.
        performers = (await repository.performers([offered.id])).get(offered.id, [])
        asked = [s for s in performers if staff_id is None or s == staff_id]
        if await _held_by_anyone(session, asked, start):
            raise Conflict("That time was just taken; choose another slot.", code="slot_taken")
        raise Unprocessable(
            "Nobody can take that service at that time; choose one of the free slots.",
            code="outside_availability",
        )
    confirmed = found.auto_confirm and prepared is None
    status = AppointmentStatus.confirmed if confirmed else AppointmentStatus.pending
    row = await appointments.book(
        session,
        client_id=found.client_id,
        staff_id=matching[0],
        service=offered,
        starts_at=start,
        timezone=found.timezone,
        customer_id=principal.user_id,
        status=status,
        notes=notes,
    )
    await notices.tell(platform, session, row, "appointment.created")
    started = None
    if prepared is not None and offered.deposit_minor:
        started = await deposits.take(platform, session, row, offered, prepared, pay_with)
    return row, started


async def _held_by_anyone(
    session: AsyncSession, staff_ids: list[uuid.UUID], start: datetime
) -> bool:
    """Whether one of them holds ``start``: a slot taken, not a time nobody works."""
    repository = AppointmentRepository(session)
    for staff_id in staff_ids:
        held = await repository.held(staff_id, start - timedelta(days=1), start + timedelta(days=1))
        if any(s <= start < e for s, e in held):
            return True
    return False


async def invitation(session: AsyncSession, row: Appointment) -> bytes:
    """The appointment's ``.ics`` (see booking/calendar.py)."""
    business = await BookingRepository(session).profile(row.client_id)
    staff = await StaffRepository(session).by_id(row.staff_id)
    return calendar.ics(row, business, staff_name=staff.display_name if staff else "")


EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Artist:
    staff: StaffMember
    business: BookingProfile
    distance_km: float
    services: list[Service]


async def artists_near(
    session: AsyncSession,
    lat: float,
    lng: float,
    *,
    radius_km: float,
    service_query: str | None,
    limit: int = 50,
) -> list[Artist]:
    """Bookable artists within ``radius_km`` of a place, nearest first (seed 002's "near
    me"); ``service_query`` keeps those performing an active service whose name has it."""
    dlat = radius_km / 111.32
    # A degree of longitude shrinks towards the poles; near them, take every longitude.
    shrink = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
    dlng = 180.0 if shrink < 0.01 else min(180.0, radius_km / (111.32 * shrink))
    repository = BookingRepository(session)
    candidates = await repository.artists_in_box(lat - dlat, lat + dlat, lng - dlng, lng + dlng)
    if lng - dlng < -180 or lng + dlng > 180:  # the box crosses the antimeridian
        wrapped = lng - 360 if lng > 0 else lng + 360
        candidates += await repository.artists_in_box(
            lat - dlat, lat + dlat, wrapped - dlng, wrapped + dlng
        )
    staff_repository = StaffRepository(session)
    performs = await staff_repository.services_of([s.id for s, _ in candidates])
    wanted = (service_query or "").strip().lower()
    found: list[Artist] = []
    seen: set[uuid.UUID] = set()
    menus: dict[uuid.UUID, list[Service]] = {}  # each business's services, read once
    for member, business in candidates:
        if member.id in seen:
            continue
        seen.add(member.id)
        place_lat = member.latitude if member.latitude is not None else business.latitude
        place_lng = member.longitude if member.longitude is not None else business.longitude
        if place_lat is None or place_lng is None:
            continue
        away = distance_km(lat, lng, place_lat, place_lng)
        if away > radius_km:
            continue
        if business.client_id not in menus:
            menus[business.client_id] = await repository.services(business.client_id)
        offered = [
            s
            for s in menus[business.client_id]
            if s.is_active and s.id in performs.get(member.id, [])
        ]
        if wanted and not any(wanted in s.name.lower() for s in offered):
            continue
        found.append(Artist(member, business, round(away, 2), offered))
    found.sort(key=lambda a: (a.distance_km, a.staff.display_name))
    return found[:limit]
