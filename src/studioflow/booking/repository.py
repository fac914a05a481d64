"""Every query of the booking feature, scoped to the business (client) it belongs to."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from studioflow.models import (
    MAX_BUFFER_MINUTES,
    MAX_SERVICE_MINUTES,
    OPEN_APPOINTMENT,
    ActionToken,
    Appointment,
    AppointmentReminder,
    AppointmentStatus,
    BookingProfile,
    Membership,
    Payment,
    PaymentStatus,
    Service,
    ServiceCategory,
    StaffException,
    StaffMember,
    StaffService,
    WorkingHours,
)
from studioflow.models.base import table_of
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope
from studioflow.platform.sql_time import epoch_seconds

if TYPE_CHECKING:
    from studioflow.identity.auth import Principal

LONGEST_HOLD = timedelta(minutes=MAX_SERVICE_MINUTES + MAX_BUFFER_MINUTES)


class BookingRepository(Repository[BookingProfile]):
    model = BookingProfile

    async def profile(self, client_id: uuid.UUID) -> BookingProfile | None:
        found: BookingProfile | None = await self.session.get(BookingProfile, client_id)
        return found

    async def artists_in_box(
        self, south: float, north: float, west: float, east: float, *, limit: int = 2000
    ) -> list[tuple[StaffMember, BookingProfile]]:
        """Active staff of every business whose place (their own, else the business's) is
        inside the box; the caller measures the real distance."""
        lat = func.coalesce(StaffMember.latitude, BookingProfile.latitude)
        lng = func.coalesce(StaffMember.longitude, BookingProfile.longitude)
        rows = await self.session.execute(
            select(StaffMember, BookingProfile)
            .join(BookingProfile, BookingProfile.client_id == StaffMember.client_id)
            .where(
                StaffMember.is_active.is_(True),
                lat.between(south, north),
                lng.between(west, east),
            )
            .limit(limit)
        )
        return [(staff, profile) for staff, profile in rows.all()]

    async def profile_by_slug(self, slug: str) -> BookingProfile | None:
        return await self.one_or_none(select(BookingProfile).where(BookingProfile.slug == slug))

    async def categories(self, client_id: uuid.UUID) -> list[ServiceCategory]:
        return list(
            (
                await self.session.scalars(
                    select(ServiceCategory)
                    .where(ServiceCategory.client_id == client_id)
                    .order_by(ServiceCategory.position, ServiceCategory.name)
                )
            ).all()
        )

    async def category(self, scope: Scope, category_id: uuid.UUID) -> ServiceCategory | None:
        found: ServiceCategory | None = await self.session.scalar(
            select(ServiceCategory).where(
                ServiceCategory.client_id == scope.client_id, ServiceCategory.id == category_id
            )
        )
        return found

    async def services(self, client_id: uuid.UUID) -> list[Service]:
        return list(
            (
                await self.session.scalars(
                    select(Service).where(Service.client_id == client_id).order_by(Service.name)
                )
            ).all()
        )

    async def service(self, client_id: uuid.UUID, service_id: uuid.UUID) -> Service | None:
        found: Service | None = await self.session.scalar(
            select(Service).where(Service.client_id == client_id, Service.id == service_id)
        )
        return found

    async def service_anywhere(self, service_id: uuid.UUID) -> Service | None:
        """A service of any business: customers book across businesses (public data)."""
        found: Service | None = await self.session.get(Service, service_id)
        return found

    async def performers(self, service_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        if not service_ids:
            return {}
        rows = await self.session.execute(
            select(StaffService.service_id, StaffService.staff_id)
            .where(StaffService.service_id.in_(service_ids))
            .order_by(StaffService.staff_id)
        )
        found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for service_id, staff_id in rows.all():
            found[service_id].append(staff_id)
        return found

    async def set_performers_of_service(
        self, service_id: uuid.UUID, staff_ids: list[uuid.UUID]
    ) -> None:
        await self.session.execute(
            delete(StaffService).where(StaffService.service_id == service_id)
        )
        self.session.add_all(StaffService(staff_id=s, service_id=service_id) for s in staff_ids)
        await self.session.flush()


class StaffRepository(ClientScoped[StaffMember]):
    model = StaffMember

    async def lock(self, staff_id: uuid.UUID) -> None:
        """Take the staff member's row lock until the transaction ends (PostgreSQL; SQLite's
        writers take turns anyway): bookings of one person take turns."""
        await self.session.execute(
            select(StaffMember.id).where(StaffMember.id == staff_id).with_for_update()
        )

    async def by_id(self, staff_id: uuid.UUID) -> StaffMember | None:
        """A staff member by id alone: for messages about an appointment already found."""
        found: StaffMember | None = await self.session.get(StaffMember, staff_id)
        return found

    async def of_business(self, client_id: uuid.UUID, staff_id: uuid.UUID) -> StaffMember | None:
        return await self.one_or_none(self.of_client(client_id).where(StaffMember.id == staff_id))

    async def ids_of(self, client_id: uuid.UUID, staff_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        if not staff_ids:
            return set()
        rows = await self.session.scalars(
            select(StaffMember.id).where(
                StaffMember.client_id == client_id, StaffMember.id.in_(staff_ids)
            )
        )
        return set(rows.all())

    async def of_client_all(
        self, client_id: uuid.UUID, *, active_only: bool = False
    ) -> list[StaffMember]:
        statement = self.of_client(client_id).order_by(StaffMember.display_name)
        if active_only:
            statement = statement.where(StaffMember.is_active.is_(True))
        return await self.all(statement)

    async def is_member(self, client_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(Membership.user_id).where(
                Membership.client_id == client_id, Membership.user_id == user_id
            )
        )
        return found is not None

    async def by_user(self, client_id: uuid.UUID, user_id: uuid.UUID) -> StaffMember | None:
        return await self.one_or_none(
            self.of_client(client_id).where(StaffMember.user_id == user_id)
        )

    async def services_of(self, staff_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        if not staff_ids:
            return {}
        rows = await self.session.execute(
            select(StaffService.staff_id, StaffService.service_id)
            .where(StaffService.staff_id.in_(staff_ids))
            .order_by(StaffService.service_id)
        )
        found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for staff_id, service_id in rows.all():
            found[staff_id].append(service_id)
        return found

    async def set_services(self, staff_id: uuid.UUID, service_ids: list[uuid.UUID]) -> None:
        await self.session.execute(delete(StaffService).where(StaffService.staff_id == staff_id))
        self.session.add_all(StaffService(staff_id=staff_id, service_id=s) for s in service_ids)
        await self.session.flush()

    async def hours_of(self, staff_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[WorkingHours]]:
        if not staff_ids:
            return {}
        rows = await self.session.scalars(
            select(WorkingHours)
            .where(WorkingHours.staff_id.in_(staff_ids))
            .order_by(WorkingHours.weekday, WorkingHours.start_minute)
        )
        found: dict[uuid.UUID, list[WorkingHours]] = defaultdict(list)
        for row in rows.all():
            found[row.staff_id].append(row)
        return found

    async def hours(self, staff_id: uuid.UUID) -> list[WorkingHours]:
        return (await self.hours_of([staff_id])).get(staff_id, [])

    async def replace_hours(self, staff_id: uuid.UUID, rows: list[WorkingHours]) -> None:
        await self.session.execute(delete(WorkingHours).where(WorkingHours.staff_id == staff_id))
        self.session.add_all(rows)
        await self.session.flush()

    async def upcoming_exceptions(
        self, staff_id: uuid.UUID, after: datetime
    ) -> list[StaffException]:
        rows = await self.session.scalars(
            select(StaffException)
            .where(StaffException.staff_id == staff_id, StaffException.ends_at > after)
            .order_by(StaffException.starts_at)
            .limit(500)
        )
        return list(rows.all())

    async def upcoming_exceptions_of_business(
        self, client_id: uuid.UUID, after: datetime
    ) -> dict[uuid.UUID, list[StaffException]]:
        """:meth:`upcoming_exceptions` of every staff member of the business, in one query
        (the staff page lists them all)."""
        rows = await self.session.scalars(
            select(StaffException)
            .join(StaffMember, StaffMember.id == StaffException.staff_id)
            .where(StaffMember.client_id == client_id, StaffException.ends_at > after)
            .order_by(StaffException.starts_at)
            .limit(5000)
        )
        found: dict[uuid.UUID, list[StaffException]] = defaultdict(list)
        for row in rows.all():
            found[row.staff_id].append(row)
        return found

    async def exception(
        self, staff_id: uuid.UUID, exception_id: uuid.UUID
    ) -> StaffException | None:
        """One exception of ``staff_id`` (whose business the caller has already checked)."""
        return await self.session.scalar(
            select(StaffException).where(
                StaffException.id == exception_id, StaffException.staff_id == staff_id
            )
        )


@dataclass(frozen=True)
class Schedule:
    """What availability needs of a business and one of its services: the zone and
    horizon, the service's length, and who performs it with their weekly ranges
    ``(weekday, start_minute, end_minute)``; someone without weekly hours is listed with
    none (their extra hours may still open a day)."""

    client_id: uuid.UUID
    timezone: str
    horizon_days: int
    service_id: uuid.UUID
    duration_minutes: int
    buffer_minutes: int
    is_active: bool
    staff: dict[uuid.UUID, list[tuple[int, int, int]]]


def _schedule_statement(*, by_slug: bool, one_member: bool) -> Any:
    """The business, its service, the service's active performers and their hours: one
    query, built once (availability runs on every visit of a booking page)."""
    profile, service = table_of(BookingProfile), table_of(Service)
    link, staff, hours = table_of(StaffService), table_of(StaffMember), table_of(WorkingHours)
    performer = and_(staff.c.id == link.c.staff_id, staff.c.is_active.is_(True))
    if one_member:
        performer = and_(performer, staff.c.id == bindparam("p_staff"))
    # The parenthesised join may not name the outer tables (SQLite): the business check
    # is on the outer join's condition.
    joined = (
        profile.join(
            service,
            and_(
                service.c.client_id == profile.c.client_id, service.c.id == bindparam("p_service")
            ),
        )
        .outerjoin(
            link.join(staff, performer),
            and_(link.c.service_id == service.c.id, staff.c.client_id == profile.c.client_id),
        )
        .outerjoin(hours, hours.c.staff_id == staff.c.id)
    )
    business = (
        profile.c.slug == bindparam("p_slug")
        if by_slug
        else profile.c.client_id == bindparam("p_client")
    )
    return (
        select(
            profile.c.client_id,
            profile.c.timezone,
            profile.c.horizon_days,
            service.c.duration_minutes,
            service.c.buffer_minutes,
            service.c.is_active,
            # As text: one row per range repeats each id, parsed once each by the caller.
            cast(staff.c.id, String(36)),
            hours.c.weekday,
            hours.c.start_minute,
            hours.c.end_minute,
        )
        .select_from(joined)
        .where(business)
        .order_by(staff.c.id, hours.c.weekday, hours.c.start_minute)
    )


def _blocks_statement(*, ignoring: bool) -> Any:
    """Exceptions and open appointments (with their buffers) of some staff touching a
    stretch, as whole seconds since the epoch: one query, built once."""
    exception, appointment = table_of(StaffException), table_of(Appointment)
    # Ids as text: parsing a UUID per row was a third of the query's time; the caller maps
    # the few distinct texts back (SQLite stores 32 hex digits, PostgreSQL prints dashes).
    exceptions = select(
        cast(exception.c.staff_id, String(36)),
        # Plain text on both sides of the union: the enum type would refuse "held".
        type_coerce(exception.c.kind, String(12)).label("kind"),
        epoch_seconds(exception.c.starts_at).label("starts_at"),
        epoch_seconds(exception.c.ends_at).label("ends_at"),
    ).where(
        exception.c.staff_id.in_(bindparam("p_staff", expanding=True)),
        exception.c.starts_at < bindparam("p_end"),
        exception.c.ends_at > bindparam("p_start"),
    )
    held = select(
        cast(appointment.c.staff_id, String(36)),
        literal("held", String(12)).label("kind"),
        epoch_seconds(appointment.c.starts_at),
        epoch_seconds(appointment.c.blocked_until),
    ).where(
        appointment.c.staff_id.in_(bindparam("p_staff", expanding=True)),
        appointment.c.status.in_([s.value for s in OPEN_APPOINTMENT]),
        appointment.c.starts_at < bindparam("p_end"),
        # The index is (staff, start): without a lower bound on the start the search reads
        # every past appointment of the staff. Nothing is held longer than the longest
        # service plus its buffer.
        appointment.c.starts_at > bindparam("p_since"),
        appointment.c.blocked_until > bindparam("p_start"),
    )
    if ignoring:
        held = held.where(appointment.c.id != bindparam("p_ignore"))
    return union_all(exceptions, held)


# A reminder is claimed by inserting its row: a concurrent run's insert finds it and adds
# nothing (the primary key decides), so one of them tells the customer.
_CLAIM = {
    dialect: make(table_of(AppointmentReminder))
    .on_conflict_do_nothing()
    .returning(table_of(AppointmentReminder).c.appointment_id)
    for dialect, make in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_SCHEDULES = {
    (by_slug, one_member): _schedule_statement(by_slug=by_slug, one_member=one_member)
    for by_slug in (False, True)
    for one_member in (False, True)
}
_BLOCKS = _blocks_statement(ignoring=False)
_BLOCKS_IGNORING = _blocks_statement(ignoring=True)


class ScheduleRepository(Repository[WorkingHours]):
    """What availability reads, in two round trips for any number of staff: the service
    with who performs it and their weekly hours, then everything that changes those hours
    on given days (exceptions and held appointments). Each hop to the database costs more
    than the rows it carries (bench/README.md, "Booking")."""

    model = WorkingHours

    async def schedule(
        self,
        service_id: uuid.UUID,
        *,
        client_id: uuid.UUID | None = None,
        slug: str | None = None,
        staff_id: uuid.UUID | None = None,
    ) -> Schedule | None:
        """The service of the business (by client id or by its public slug) with its active
        performers (or just ``staff_id``); None when there is no such business or it has no
        such service."""
        values: dict[str, Any] = {"p_service": service_id}
        if slug is not None:
            values["p_slug"] = slug
        else:
            values["p_client"] = client_id
        if staff_id is not None:
            values["p_staff"] = staff_id
        statement = _SCHEDULES[(slug is not None, staff_id is not None)]
        rows = (await self.session.execute(statement, values)).all()
        if not rows:
            return None
        staff: dict[uuid.UUID, list[tuple[int, int, int]]] = {}
        ids: dict[str, uuid.UUID] = {}
        for *_, text, weekday, start, end in rows:
            if text is None:
                continue  # the service row alone: nobody performs it
            member = ids.get(text)
            if member is None:
                member = ids[text] = uuid.UUID(text)
            ranges = staff.setdefault(member, [])
            if weekday is not None:
                ranges.append((weekday, start, end))
        client, zone, horizon, duration, buffer, active = rows[0][:6]
        return Schedule(client, zone, horizon, service_id, duration, buffer, bool(active), staff)

    async def blocks_of(
        self,
        staff_ids: list[uuid.UUID],
        start: datetime,
        end: datetime,
        *,
        ignore: uuid.UUID | None = None,
    ) -> dict[uuid.UUID, dict[str, list[tuple[int, int]]]]:
        """Per staff member and kind (``time_off``, ``extra_hours``, ``held``) the intervals
        touching [start, end) in whole seconds since the epoch: exceptions, and open
        appointments with their buffers (``ignore``: one being moved, whose own time is free
        to move into)."""
        if not staff_ids:
            return {}
        values: dict[str, Any] = {
            "p_staff": staff_ids,
            "p_start": start,
            "p_end": end,
            "p_since": start - LONGEST_HOLD,
        }
        if ignore is not None:
            values["p_ignore"] = ignore
        statement = _BLOCKS if ignore is None else _BLOCKS_IGNORING
        # Grouped by the id's text (hashing a UUID is Python code), named once per person.
        by_text: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for text, kind, s, e in (await self.session.execute(statement, values)).all():
            by_text.setdefault(text, {}).setdefault(kind, []).append((s, e))
        spelled = {text: member for member in staff_ids for text in (member.hex, str(member))}
        return {spelled[text]: kinds for text, kinds in by_text.items()}


class AppointmentRepository(ClientScoped[Appointment]):
    model = Appointment

    async def held(
        self,
        staff_id: uuid.UUID,
        start: datetime,
        end: datetime,
        *,
        ignore: uuid.UUID | None = None,
    ) -> list[tuple[datetime, datetime]]:
        """The staff member's open appointments touching [start, end), with buffers
        (``ignore``: one being moved, whose own time is free to move into)."""
        statement = select(Appointment.starts_at, Appointment.blocked_until).where(
            Appointment.staff_id == staff_id,
            Appointment.status.in_(OPEN_APPOINTMENT),
            Appointment.starts_at < end,
            Appointment.blocked_until > start,
        )
        if ignore is not None:
            statement = statement.where(Appointment.id != ignore)
        rows = await self.session.execute(statement)
        return [(s, e) for s, e in rows.all()]

    def _visible_to(self, principal: Principal) -> Any:
        """The customer's own appointments, and the active business's for its staff."""
        mine = Appointment.customer_id == principal.user_id
        if principal.can("booking:read"):
            return or_(mine, Appointment.client_id == principal.client_id)
        return mine

    async def visible(
        self, principal: Principal, appointment_id: uuid.UUID, *, lock: bool = False
    ) -> Appointment | None:
        statement = select(Appointment).where(
            Appointment.id == appointment_id, self._visible_to(principal)
        )
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return await self.one_or_none(statement)

    async def page(
        self,
        principal: Principal,
        params: PageParams,
        *,
        as_business: bool,
        status: str | None,
        start: datetime | None,
        end: datetime | None,
        staff_id: uuid.UUID | None,
    ) -> tuple[list[Appointment], str | None]:
        statement = select(Appointment).where(
            Appointment.client_id == principal.client_id
            if as_business
            else Appointment.customer_id == principal.user_id
        )
        if status:
            statement = statement.where(Appointment.status == status)
        if start:
            statement = statement.where(Appointment.starts_at >= start)
        if end:
            statement = statement.where(Appointment.starts_at < end)
        if staff_id:
            statement = statement.where(Appointment.staff_id == staff_id)
        return await self.newest_first(statement, params)

    async def due_reminders(
        self, lead: str, start: datetime, end: datetime, *, limit: int
    ) -> list[Appointment]:
        """Open appointments of every business starting in (start, end] whose ``lead``
        reminder for that start was not handled yet: the reminder cron's next page."""
        handled = (
            select(AppointmentReminder.appointment_id)
            .where(
                AppointmentReminder.appointment_id == Appointment.id,
                AppointmentReminder.lead == lead,
                AppointmentReminder.starts_at == Appointment.starts_at,
            )
            .exists()
        )
        return await self.all(
            select(Appointment)
            .where(
                Appointment.status.in_(OPEN_APPOINTMENT),
                Appointment.starts_at > start,
                Appointment.starts_at <= end,
                ~handled,
            )
            .order_by(Appointment.starts_at, Appointment.id)
            .limit(limit)
        )

    async def claim_reminder(
        self, appointment_id: uuid.UUID, lead: str, starts_at: datetime
    ) -> bool:
        """Record the reminder as handled; False when another run did (the row exists)."""
        statement = _CLAIM[self.session.get_bind().dialect.name]
        claimed = await self.session.scalar(
            statement.values(appointment_id=appointment_id, lead=lead, starts_at=starts_at)
        )
        return claimed is not None

    async def by_id(self, appointment_id: uuid.UUID, *, lock: bool = False) -> Appointment | None:
        """By id alone: for a holder of its signed link, or a job; never for a principal."""
        statement = select(Appointment).where(Appointment.id == appointment_id)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return await self.one_or_none(statement)

    async def manage_token(
        self,
        token_hash: str,
        purpose: str,
        appointment_id: uuid.UUID,
        now: datetime,
        *,
        lock: bool = True,
    ) -> ActionToken | None:
        """The unused, unexpired link token for this appointment (locked to be spent: one
        use)."""
        statement = select(ActionToken).where(
            ActionToken.token_hash == token_hash,
            ActionToken.purpose == purpose,
            ActionToken.used_at.is_(None),
            ActionToken.expires_at > now,
        )
        found: ActionToken | None = await self.session.scalar(
            statement.with_for_update() if lock else statement
        )
        if found is None or found.data.get("appointment_id") != str(appointment_id):
            return None
        return found

    async def unpaid_deposits(self, before: datetime, *, limit: int = 200) -> list[uuid.UUID]:
        """Pending appointments booked before ``before`` whose deposit is not paid."""
        rows = await self.session.scalars(
            select(Appointment.id)
            .join(Payment, Payment.id == Appointment.payment_id)
            .where(
                Appointment.status == AppointmentStatus.pending,
                Appointment.created_at < before,
                Payment.status != PaymentStatus.succeeded,
            )
            .order_by(Appointment.created_at)
            .limit(limit)
        )
        return list(rows.all())

    async def cancel_pending_before(self, before: datetime) -> list[uuid.UUID]:
        result = await self.session.execute(
            update(Appointment)
            .where(
                Appointment.status == AppointmentStatus.pending,
                Appointment.created_at < before,
            )
            .values(
                status=AppointmentStatus.cancelled,
                cancel_reason="Not confirmed by the business within a day.",
                sequence=Appointment.sequence + 1,
            )
            .returning(Appointment.id)
        )
        return [uuid.UUID(str(i)) for i in result.scalars().all()]
