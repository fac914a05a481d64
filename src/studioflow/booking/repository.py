"""Every query of the booking feature, scoped to the business (client) it belongs to."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select, update

from studioflow.models import (
    OPEN_APPOINTMENT,
    ActionToken,
    Appointment,
    AppointmentStatus,
    BookingProfile,
    Membership,
    Service,
    ServiceCategory,
    StaffException,
    StaffMember,
    StaffService,
    WorkingHours,
)
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope

if TYPE_CHECKING:
    from studioflow.identity.auth import Principal


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

    async def exceptions_of(
        self, staff_ids: list[uuid.UUID], start: datetime, end: datetime
    ) -> dict[uuid.UUID, list[StaffException]]:
        """The exceptions of several staff members touching [start, end), in one query."""
        found: dict[uuid.UUID, list[StaffException]] = defaultdict(list)
        if not staff_ids:
            return found
        rows = await self.session.scalars(
            select(StaffException).where(
                StaffException.staff_id.in_(staff_ids),
                StaffException.starts_at < end,
                StaffException.ends_at > start,
            )
        )
        for row in rows.all():
            found[row.staff_id].append(row)
        return found

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

    async def exception(
        self, staff_id: uuid.UUID, exception_id: uuid.UUID
    ) -> StaffException | None:
        """One exception of ``staff_id`` (whose business the caller has already checked)."""
        return await self.session.scalar(
            select(StaffException).where(
                StaffException.id == exception_id, StaffException.staff_id == staff_id
            )
        )


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

    async def held_of(
        self,
        staff_ids: list[uuid.UUID],
        start: datetime,
        end: datetime,
        *,
        ignore: uuid.UUID | None = None,
    ) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
        """:meth:`held` for several staff members in one query."""
        found: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
        if not staff_ids:
            return found
        statement = select(
            Appointment.staff_id, Appointment.starts_at, Appointment.blocked_until
        ).where(
            Appointment.staff_id.in_(staff_ids),
            Appointment.status.in_(OPEN_APPOINTMENT),
            Appointment.starts_at < end,
            Appointment.blocked_until > start,
        )
        if ignore is not None:
            statement = statement.where(Appointment.id != ignore)
        for staff_id, s, e in (await self.session.execute(statement)).all():
            found[staff_id].append((s, e))
        return found

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

    async def starting_between(self, start: datetime, end: datetime) -> list[Appointment]:
        """Open appointments of every business starting in (start, end]: the reminder cron."""
        return await self.all(
            select(Appointment)
            .where(
                Appointment.status.in_(OPEN_APPOINTMENT),
                Appointment.starts_at > start,
                Appointment.starts_at <= end,
            )
            .order_by(Appointment.starts_at)
            .limit(5000)
        )

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
