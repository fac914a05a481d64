"""Every query of the booking feature, scoped to the business (client) it belongs to."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from studioflow.models import Appointment, StaffMember
from studioflow.platform.repository import ClientScoped


class StaffRepository(ClientScoped[StaffMember]):
    model = StaffMember

    async def lock(self, staff_id: uuid.UUID) -> None:
        """Take the staff member's row lock until the transaction ends (PostgreSQL; SQLite's
        writers take turns anyway): bookings of one person take turns."""
        await self.session.execute(
            select(StaffMember.id).where(StaffMember.id == staff_id).with_for_update()
        )

    async def of_business(self, client_id: uuid.UUID, staff_id: uuid.UUID) -> StaffMember | None:
        return await self.one_or_none(self.of_client(client_id).where(StaffMember.id == staff_id))


class AppointmentRepository(ClientScoped[Appointment]):
    model = Appointment

    async def of_staff(self, staff_id: uuid.UUID) -> list[Appointment]:
        return await self.all(
            select(Appointment)
            .where(Appointment.staff_id == staff_id)
            .order_by(Appointment.starts_at)
        )
