"""The booking API (API.md, "Booking"): the business's profile, categories, services, staff
and hours; the public view and availability by slug; booking an appointment."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import lifecycle, service
from studioflow.booking.auth import BookingManager, BookingReader, Customer
from studioflow.booking.availability import wall_text
from studioflow.booking.schemas import (
    AppointmentIn,
    AppointmentOut,
    ArtistBusiness,
    ArtistOut,
    ArtistService,
    ArtistsOut,
    AvailabilityOut,
    CancelIn,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    ExceptionIn,
    ExceptionOut,
    HoursIn,
    Location,
    ManageIn,
    ProfileIn,
    ProfileOut,
    PublicBusinessOut,
    RescheduleIn,
    ServiceIn,
    ServiceOut,
    ServicePatch,
    StaffIn,
    StaffOut,
    StaffPatch,
)
from studioflow.identity.auth import Principal, platform_of
from studioflow.models import Appointment, BookingProfile, StaffException
from studioflow.payments.presenters import payment_out
from studioflow.platform import idempotency
from studioflow.platform.db import ReadSessionDep, SessionDep
from studioflow.platform.errors import Unprocessable, answers
from studioflow.platform.pagination import Page, PageParams, page_params
from studioflow.platform.schemas import Money

router = APIRouter(tags=["booking"])
# Free slots are what every visitor of a booking page asks for, anonymously and often: app.py
# mounts this router among the hot paths (no other route can match its path).
slots_router = APIRouter(tags=["booking"])


def profile_out(row: BookingProfile) -> ProfileOut:
    location = (
        Location(lat=row.latitude, lng=row.longitude)
        if row.latitude is not None and row.longitude is not None
        else None
    )
    return ProfileOut(
        slug=row.slug,
        name=row.name,
        timezone=row.timezone,
        currency=row.currency,
        auto_confirm=row.auto_confirm,
        cancellation_notice_hours=row.cancellation_notice_hours,
        horizon_days=row.horizon_days,
        address=row.address,
        location=location,
    )


def service_out(view: service.ServiceView) -> ServiceOut:
    s = view.service
    return ServiceOut(
        id=s.id,
        category_id=s.category_id,
        name=s.name,
        description=s.description,
        price=Money(amount=s.price_minor, currency=s.currency),
        duration_minutes=s.duration_minutes,
        buffer_minutes=s.buffer_minutes,
        image_id=s.image_id,
        staff_ids=view.staff_ids,
        is_active=s.is_active,
        deposit=Money(amount=s.deposit_minor, currency=s.currency) if s.deposit_minor else None,
    )


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def staff_out(view: service.StaffView) -> StaffOut:
    s = view.staff
    return StaffOut(
        id=s.id,
        user_id=s.user_id,
        display_name=s.display_name,
        bio=s.bio,
        avatar_image_id=s.avatar_image_id,
        service_ids=view.service_ids,
        location=Location(lat=s.latitude, lng=s.longitude)
        if s.latitude is not None and s.longitude is not None
        else None,
        is_active=s.is_active,
        hours=[
            HoursIn(weekday=h.weekday, start=_clock(h.start_minute), end=_clock(h.end_minute))
            for h in view.hours
        ],
    )


def appointment_out(row: Appointment) -> AppointmentOut:
    zone = ZoneInfo(row.timezone)
    return AppointmentOut(
        id=row.id,
        status=row.status.value,
        date=row.local_date,
        time=row.local_time,
        start=row.starts_at.astimezone(zone),
        end=row.ends_at.astimezone(zone),
        timezone=row.timezone,
        staff_id=row.staff_id,
        service_id=row.service_id,
        price=Money(amount=row.price_minor, currency=row.currency),
        payment_id=row.payment_id,
    )


# --- the business's own ------------------------------------------------------------------


@router.get("/api/v1/booking/profile", response_model=ProfileOut)
async def get_profile(principal: BookingReader, session: SessionDep) -> ProfileOut:
    """The active workspace's booking profile (404 until it has one)."""
    return profile_out(await service.profile(session, principal))


@router.put(
    "/api/v1/booking/profile",
    response_model=ProfileOut,
    responses=answers(
        {
            409: "Another business has that slug (`slug_taken`).",
            422: "Unknown time zone (`invalid_timezone`) or a reserved slug.",
        }
    ),
)
async def put_profile(
    body: ProfileIn, principal: BookingManager, session: SessionDep
) -> ProfileOut:
    """Create or replace the booking profile: the public page is /book/{slug}."""
    return profile_out(await service.put_profile(session, principal, body.model_dump()))


@router.get("/api/v1/service-categories", response_model=list[CategoryOut])
async def list_categories(principal: BookingReader, session: SessionDep) -> list[CategoryOut]:
    """The business's service categories, in their order."""
    found = await service.categories(session, principal.client_id)
    return [CategoryOut.model_validate(c) for c in found]


@router.post("/api/v1/service-categories", status_code=201, response_model=CategoryOut)
async def create_category(
    body: CategoryIn, principal: BookingManager, session: SessionDep
) -> CategoryOut:
    """Add a category of services."""
    return CategoryOut.model_validate(
        await service.save_category(session, principal, body.model_dump())
    )


@router.patch("/api/v1/service-categories/{category_id}", response_model=CategoryOut)
async def update_category(
    category_id: uuid.UUID, body: CategoryPatch, principal: BookingManager, session: SessionDep
) -> CategoryOut:
    """Change a category."""
    changes = body.model_dump(exclude_unset=True)
    return CategoryOut.model_validate(
        await service.save_category(session, principal, changes, category_id)
    )


@router.delete("/api/v1/service-categories/{category_id}", status_code=204)
async def delete_category(
    category_id: uuid.UUID, principal: BookingManager, session: SessionDep
) -> Response:
    """Delete a category; its services stay, without a category."""
    await service.delete_category(session, principal, category_id)
    return Response(status_code=204)


@router.get("/api/v1/services", response_model=list[ServiceOut])
async def list_services(principal: BookingReader, session: SessionDep) -> list[ServiceOut]:
    """The business's services, by name."""
    return [service_out(v) for v in await service.services(session, principal.client_id)]


NOT_OURS = answers(
    {404: "A category, image, staff member or service of another workspace (`not_found`)."}
)


@router.post("/api/v1/services", status_code=201, response_model=ServiceOut, responses=NOT_OURS)
async def create_service(
    body: ServiceIn, principal: BookingManager, session: SessionDep
) -> ServiceOut:
    """Add a service: price in minor units, duration, buffer after, who performs it."""
    return service_out(
        await service.save_service(session, principal, body.model_dump(mode="python"))
    )


@router.get("/api/v1/services/{service_id}", response_model=ServiceOut)
async def get_service(
    service_id: uuid.UUID, principal: BookingReader, session: SessionDep
) -> ServiceOut:
    """One service."""
    found = await service.service(session, principal, service_id)
    views = {v.service.id: v for v in await service.services(session, principal.client_id)}
    return service_out(views[found.id])


@router.patch("/api/v1/services/{service_id}", response_model=ServiceOut, responses=NOT_OURS)
async def update_service(
    service_id: uuid.UUID, body: ServicePatch, principal: BookingManager, session: SessionDep
) -> ServiceOut:
    """Change a service; booked appointments keep the price they were booked at."""
    changes = body.model_dump(mode="python", exclude_unset=True)
    return service_out(await service.save_service(session, principal, changes, service_id))


@router.delete("/api/v1/services/{service_id}", status_code=204)
async def delete_service(
    service_id: uuid.UUID, principal: BookingManager, session: SessionDep
) -> Response:
    """Delete a service; its appointments keep their own copy of its name and price."""
    await service.delete_service(session, principal, service_id)
    return Response(status_code=204)


@router.get("/api/v1/booking/staff", response_model=list[StaffOut])
async def list_staff(principal: BookingReader, session: SessionDep) -> list[StaffOut]:
    """The business's staff with their services and weekly hours."""
    return [staff_out(v) for v in await service.staff_views(session, principal.client_id)]


@router.post(
    "/api/v1/booking/staff",
    status_code=201,
    response_model=StaffOut,
    responses=answers(
        {
            404: "Not a member of this workspace, or another workspace's image or service.",
            409: "That member is staff already (`already_exists`).",
        }
    ),
)
async def create_staff(body: StaffIn, principal: BookingManager, session: SessionDep) -> StaffOut:
    """Make a member of the workspace bookable."""
    return staff_out(await service.save_staff(session, principal, body.model_dump()))


@router.patch("/api/v1/booking/staff/{staff_id}", response_model=StaffOut, responses=NOT_OURS)
async def update_staff(
    staff_id: uuid.UUID, body: StaffPatch, principal: BookingManager, session: SessionDep
) -> StaffOut:
    """Change a staff member's profile and services."""
    changes = body.model_dump(exclude_unset=True)
    return staff_out(await service.save_staff(session, principal, changes, staff_id))


@router.delete("/api/v1/booking/staff/{staff_id}", status_code=204)
async def delete_staff(
    staff_id: uuid.UUID, principal: BookingManager, session: SessionDep
) -> Response:
    """Stop someone being bookable (their appointments go with them)."""
    await service.delete_staff(session, principal, staff_id)
    return Response(status_code=204)


@router.put(
    "/api/v1/booking/staff/{staff_id}/hours",
    response_model=StaffOut,
    responses=answers({422: "A range that ends first or overlaps another (`invalid_hours`)."}),
)
async def put_hours(
    staff_id: uuid.UUID,
    body: Annotated[list[HoursIn], Body(max_length=100)],
    principal: BookingManager,
    session: SessionDep,
) -> StaffOut:
    """Replace the weekly hours: wall-clock ranges in the business's zone (Monday 0)."""
    return staff_out(
        await service.set_hours(session, principal, staff_id, [h.model_dump() for h in body])
    )


def exception_out(row: StaffException) -> ExceptionOut:
    return ExceptionOut(
        id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        kind=row.kind.value,
        reason=row.reason,
    )


@router.get("/api/v1/booking/staff/{staff_id}/exceptions", response_model=list[ExceptionOut])
async def list_exceptions(
    staff_id: uuid.UUID, principal: BookingReader, session: SessionDep
) -> list[ExceptionOut]:
    """The staff member's time off and extra hours that have not ended, soonest first."""
    return [exception_out(e) for e in await service.exceptions(session, principal, staff_id)]


@router.post(
    "/api/v1/booking/staff/{staff_id}/exceptions",
    status_code=201,
    response_model=ExceptionOut,
    responses=answers({422: "No start or end, or one not after the other (`invalid_hours`)."}),
)
async def create_exception(
    staff_id: uuid.UUID, body: ExceptionIn, principal: BookingManager, session: SessionDep
) -> ExceptionOut:
    """Time off or extra hours between two moments."""
    row = await service.add_exception(session, principal, staff_id, **body.model_dump())
    return exception_out(row)


@router.delete("/api/v1/booking/staff/{staff_id}/exceptions/{exception_id}", status_code=204)
async def delete_exception(
    staff_id: uuid.UUID, exception_id: uuid.UUID, principal: BookingManager, session: SessionDep
) -> Response:
    """Remove an exception."""
    await service.delete_exception(session, principal, staff_id, exception_id)
    return Response(status_code=204)


# --- customers ---------------------------------------------------------------------------


@router.post(
    "/api/v1/appointments",
    status_code=201,
    response_model=AppointmentOut,
    responses=answers(
        {
            409: "The time was taken meanwhile (`slot_taken`), or this Idempotency-Key was "
            "used with another body (`idempotency_key_reused`).",
            422: "Nobody can take that service then (`outside_availability`).",
        }
    ),
)
async def create_appointment(
    body: AppointmentIn,
    request: Request,
    principal: Customer,
    session: SessionDep,
    read: ReadSessionDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Book a free slot of a service as the signed-in customer (any staff member when none
    is named). Confirmed at once or pending, as the business chose. With Idempotency-Key
    a retry answers the first booking again and books nothing more."""
    guard = idempotency.Guard(
        session,
        principal.client_id,
        f"appointments:{principal.user_id}",
        idempotency_key,
        body.model_dump(mode="json"),
    )
    if (replay := await guard.replay(read)) is not None:
        response.status_code = replay.status_code
        response.headers["Idempotent-Replayed"] = "true"
        return replay.response
    platform = platform_of(request)
    row, started = await service.book(
        platform,
        session,
        principal,
        service_id=body.service_id,
        start=body.start,
        staff_id=body.staff_id,
        notes=body.notes,
        pay_with=body.pay_with,
    )
    out = appointment_out(row)
    if started is not None:
        out.payment = payment_out(platform, started.payment, started.client_secret)
    # Kept without Stripe's client secret (never stored): a replay asks GET /payments/{id}.
    kept = out.model_copy(
        update={"payment": out.payment.model_copy(update={"client_secret": None})}
        if out.payment
        else {}
    )
    await guard.remember(201, kept.model_dump(mode="json"))
    return out


TRANSITION_ANSWERS = answers(
    {
        403: "Only the business can do that (`forbidden`).",
        409: "The states do not allow it (`invalid_transition`), or it is too late for the "
        "customer (`too_late`).",
    }
)


@router.get("/api/v1/appointments", response_model=Page[AppointmentOut])
async def list_appointments(
    principal: Customer,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    as_: Annotated[Literal["customer", "business"], Query(alias="as")] = "customer",
    status: Annotated[
        Literal["pending", "confirmed", "completed", "no_show", "cancelled"] | None, Query()
    ] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    staff_id: uuid.UUID | None = None,
) -> Page[AppointmentOut]:
    """Your own appointments, newest first; ``as=business``: the active business's."""
    rows, cursor = await lifecycle.listed(
        session,
        principal,
        params,
        as_business=as_ == "business",
        status=status,
        start=from_,
        end=to,
        staff_id=staff_id,
    )
    return Page(items=[appointment_out(r) for r in rows], next_cursor=cursor)


# Before the plain read: ``{appointment_id}`` would otherwise take "….ics" and answer 422.
@router.get(
    "/api/v1/appointments/{appointment_id}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "RFC 5545 invitation"}},
)
async def appointment_ics(
    appointment_id: uuid.UUID, principal: Customer, session: SessionDep
) -> Response:
    """The appointment as a calendar invitation (stable UID; SEQUENCE rises on every change;
    METHOD:CANCEL once cancelled)."""
    row = await lifecycle.get(session, principal, appointment_id)
    data = await service.invitation(session, row)
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="appointment-{row.id}.ics"'},
    )


@router.post(
    "/api/v1/appointments/{appointment_id}/manage",
    response_model=AppointmentOut,
    responses=answers(
        {
            404: "The link is wrong, used or expired (`not_found`).",
            409: "Taken meanwhile (`slot_taken`), closed (`invalid_transition`) or too late "
            "(`too_late`).",
            422: "Nobody can take it then (`outside_availability`).",
        }
    ),
)
async def manage_by_link(
    appointment_id: uuid.UUID, body: ManageIn, request: Request, session: SessionDep
) -> AppointmentOut:
    """Cancel or move an appointment with the single-use link of its email, without
    signing in (the link is spent by it)."""
    row = await lifecycle.act_by_link(
        platform_of(request),
        session,
        appointment_id,
        body.token,
        action=body.action,
        reason=body.reason,
        start=body.start,
    )
    return appointment_out(row)


@router.get("/api/v1/appointments/{appointment_id}", response_model=AppointmentOut)
async def get_appointment(
    appointment_id: uuid.UUID, principal: Customer, session: SessionDep
) -> AppointmentOut:
    """One appointment: its customer's, or the business's staff's; anyone else 404."""
    return appointment_out(await lifecycle.get(session, principal, appointment_id))


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    action: lifecycle.Action,
    reason: str | None = None,
) -> AppointmentOut:
    return appointment_out(
        await lifecycle.act(
            platform_of(request), session, principal, appointment_id, action, reason=reason
        )
    )


@router.post(
    "/api/v1/appointments/{appointment_id}/confirm",
    response_model=AppointmentOut,
    responses=TRANSITION_ANSWERS,
)
async def confirm_appointment(
    appointment_id: uuid.UUID, request: Request, principal: Customer, session: SessionDep
) -> AppointmentOut:
    """The business confirms a pending appointment."""
    return await _act(request, session, principal, appointment_id, "confirm")


@router.post(
    "/api/v1/appointments/{appointment_id}/cancel",
    response_model=AppointmentOut,
    responses=TRANSITION_ANSWERS,
)
async def cancel_appointment(
    appointment_id: uuid.UUID,
    request: Request,
    body: CancelIn,
    principal: Customer,
    session: SessionDep,
) -> AppointmentOut:
    """Cancel: the customer up to the business's notice, the business any time."""
    return await _act(request, session, principal, appointment_id, "cancel", body.reason)


@router.post(
    "/api/v1/appointments/{appointment_id}/complete",
    response_model=AppointmentOut,
    responses=TRANSITION_ANSWERS,
)
async def complete_appointment(
    appointment_id: uuid.UUID, request: Request, principal: Customer, session: SessionDep
) -> AppointmentOut:
    """The business marks a confirmed appointment done."""
    return await _act(request, session, principal, appointment_id, "complete")


@router.post(
    "/api/v1/appointments/{appointment_id}/no-show",
    response_model=AppointmentOut,
    responses=TRANSITION_ANSWERS,
)
async def no_show_appointment(
    appointment_id: uuid.UUID, request: Request, principal: Customer, session: SessionDep
) -> AppointmentOut:
    """The business marks that the customer did not come."""
    return await _act(request, session, principal, appointment_id, "no_show")


@router.post(
    "/api/v1/appointments/{appointment_id}/reschedule",
    response_model=AppointmentOut,
    responses=answers(
        {
            409: "Taken meanwhile (`slot_taken`), a closed appointment "
            "(`invalid_transition`) or too late for the customer (`too_late`).",
            422: "Nobody can take it then (`outside_availability`).",
        }
    ),
)
async def reschedule_appointment(
    appointment_id: uuid.UUID,
    request: Request,
    body: RescheduleIn,
    principal: Customer,
    session: SessionDep,
) -> AppointmentOut:
    """Move an open appointment to another free slot, in one transaction."""
    row = await lifecycle.reschedule(
        platform_of(request),
        session,
        principal,
        appointment_id,
        start=body.start,
        staff_id=body.staff_id,
    )
    return appointment_out(row)


# --- public ------------------------------------------------------------------------------


NEAR = r"^-?\d{1,2}(\.\d+)?,-?\d{1,3}(\.\d+)?$"


# Before /booking/{slug}: "artists" is a reserved slug.
@router.get(
    "/api/v1/booking/artists",
    response_model=ArtistsOut,
    responses=answers({422: "`near` is not `lat,lng` on the globe (`validation_error`)."}),
)
async def artists_near(
    session: SessionDep,
    near: Annotated[str, Query(pattern=NEAR, examples=["52.52,13.405"])],
    radius_km: Annotated[float, Query(gt=0, le=500)] = 25,
    service_q: Annotated[str | None, Query(alias="service", max_length=120)] = None,
) -> ArtistsOut:
    """Bookable artists near a place, nearest first, with what they perform (no sign-in)."""
    lat, lng = (float(part) for part in near.split(","))
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise Unprocessable("`near` is lat,lng on the globe.", code="validation_error")
    found = await service.artists_near(
        session, lat, lng, radius_km=radius_km, service_query=service_q
    )
    return ArtistsOut(
        items=[
            ArtistOut(
                staff_id=a.staff.id,
                display_name=a.staff.display_name,
                bio=a.staff.bio,
                distance_km=a.distance_km,
                business=ArtistBusiness(
                    slug=a.business.slug, name=a.business.name, address=a.business.address
                ),
                services=[
                    ArtistService(
                        id=s.id,
                        name=s.name,
                        price=Money(amount=s.price_minor, currency=s.currency),
                        duration_minutes=s.duration_minutes,
                    )
                    for s in a.services
                ],
            )
            for a in found
        ]
    )


@router.get("/api/v1/booking/{slug}", response_model=PublicBusinessOut)
async def public_business(slug: str, session: SessionDep) -> PublicBusinessOut:
    """A business's public page data: profile, categories, active services and staff."""
    found = await service.business(session, slug)
    return PublicBusinessOut(
        profile=profile_out(found),
        categories=[
            CategoryOut.model_validate(c)
            for c in await service.categories(session, found.client_id)
        ],
        services=[
            service_out(v)
            for v in await service.services(session, found.client_id)
            if v.service.is_active
        ],
        staff=[
            staff_out(v)
            for v in await service.staff_views(session, found.client_id, active_only=True)
        ],
    )


@slots_router.get("/api/v1/booking/{slug}/availability", response_model=AvailabilityOut)
async def public_availability(
    slug: str,
    session: SessionDep,
    service_id: uuid.UUID,
    date_: Annotated[date, Query(alias="date")],
    days: Annotated[int, Query(ge=1, le=14)] = 1,
    staff_id: uuid.UUID | None = None,
) -> Response:
    """Free slots of a service from ``date`` (the business's calendar) for ``days`` days,
    in the business's offset of each day."""
    schedule, free = await service.public_slots(
        session, slug, service_id=service_id, first=date_, days=days, staff_id=staff_id
    )
    zone = ZoneInfo(schedule.timezone)
    # Thousands of slots (20 people, two weeks) share a few hundred starts and a few
    # people: each start's '{"start": …, "end": …, "staff_id": ' and each person's id is
    # written once and the answer is joined from them in the shape of AvailabilityOut,
    # which documents it, instead of building, validating and encoding every slot again
    # (bench/README.md). ISO 8601 instants and UUIDs are digits, letters and -:+.T, which
    # JSON takes as they are.
    people = [f'"{member}"}}' for member in free.staff]
    opening: dict[int, str] = {}
    for start, _ in free.slots:
        if start not in opening:
            opening[start] = (
                f'{{"start":"{wall_text(start, zone)}",'
                f'"end":"{wall_text(start + free.length, zone)}","staff_id":'
            )
    body = ",".join([opening[start] + people[rank] for start, rank in free.slots])
    return Response(
        f'{{"timezone":{json.dumps(schedule.timezone)},"slots":[{body}]}}',
        media_type="application/json",
    )
