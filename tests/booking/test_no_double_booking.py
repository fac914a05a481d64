"""No double booking, by the database on both backends (issue 16): 50 concurrent bookings
of one slot, exactly one wins and the others answer 409 ``slot_taken``; overlaps through
the buffer are refused, back-to-back appointments and other staff are not; a cancelled
appointment frees its time; moving onto a taken time is refused by the update guard."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from studioflow.booking import appointments
from studioflow.identity.service import create_personal_client
from studioflow.models import (
    Appointment,
    AppointmentStatus,
    Service,
    StaffMember,
    User,
)
from studioflow.platform.errors import Conflict
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings

START = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
ZONE = "Europe/Berlin"


async def a_business(platform: Platform) -> tuple[uuid.UUID, list[uuid.UUID], Service]:
    """A client with two staff members and a 60-minute service with a 15-minute buffer."""
    async with platform.db.transaction() as session:
        owner = User(email=f"owner-{uuid.uuid4().hex[:6]}@example.com")
        session.add(owner)
        await session.flush()
        client = await create_personal_client(session, owner, plan="free")
        staff = []
        for n in range(2):
            person = User(email=f"artist{n}-{uuid.uuid4().hex[:6]}@example.com")
            session.add(person)
            await session.flush()
            member = StaffMember(client_id=client.id, user_id=person.id, display_name=f"A{n}")
            session.add(member)
            await session.flush()
            staff.append(member.id)
        service = Service(
            client_id=client.id,
            name="Bridal make-up",
            price_minor=12000,
            currency="EUR",
            duration_minutes=60,
            buffer_minutes=15,
        )
        session.add(service)
        await session.flush()
        return client.id, staff, service


async def book(
    platform: Platform,
    client_id: uuid.UUID,
    staff_id: uuid.UUID,
    service: Service,
    start: datetime,
) -> Appointment:
    async with platform.db.transaction() as session:
        return await appointments.book(
            session,
            client_id=client_id,
            staff_id=staff_id,
            service=service,
            starts_at=start,
            timezone=ZONE,
            customer_id=None,
        )


async def test_fifty_racing_bookings_of_one_slot_leave_exactly_one(
    committed: tuple[Settings, Platform],
) -> None:
    _, platform = committed
    client_id, (staff_id, _), service = await a_business(platform)
    outcomes = await asyncio.gather(
        *(book(platform, client_id, staff_id, service, START) for _ in range(50)),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, Appointment)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1, [type(o).__name__ for o in outcomes if not isinstance(o, Conflict)]
    assert len(refused) == 49, {type(o).__name__ for o in outcomes}
    assert {r.instance_code for r in refused} == {"slot_taken"}
    async with platform.db.read() as session:
        stored = (await session.scalars(select(Appointment))).all()
    assert len(stored) == 1
    (appointment,) = stored
    assert (appointment.local_date.isoformat(), appointment.local_time) == ("2027-03-15", "10:00")
    assert appointment.blocked_until == START + timedelta(minutes=75)


async def test_overlaps_buffers_neighbours_cancellations_and_moves(
    committed: tuple[Settings, Platform],
) -> None:
    _, platform = committed
    client_id, (first, second), service = await a_business(platform)
    held = await book(platform, client_id, first, service, START)  # 09:00-10:00, +15
    for start in (START + timedelta(minutes=30), START - timedelta(minutes=59)):
        with pytest.raises(Conflict):
            await book(platform, client_id, first, service, start)
    with pytest.raises(Conflict):  # inside the buffer after the appointment
        await book(platform, client_id, first, service, START + timedelta(minutes=70))
    # Right after the buffer, and the same hour with another artist: both fine.
    after = await book(platform, client_id, first, service, START + timedelta(minutes=75))
    await book(platform, client_id, second, service, START)
    # Moving the later one onto the first: refused by the update guard, nothing changed.
    with pytest.raises(Conflict):
        async with platform.db.transaction() as session:
            moving = await session.get(Appointment, after.id)
            assert moving is not None
            await appointments.move(
                session, moving, starts_at=START + timedelta(minutes=15), buffer_minutes=15
            )
    # Cancelled, the first's time is free again.
    async with platform.db.transaction() as session:
        cancelled = await session.get(Appointment, held.id)
        assert cancelled is not None
        cancelled.status = AppointmentStatus.cancelled
    again = await book(platform, client_id, first, service, START - timedelta(minutes=15))
    assert again.starts_at == START - timedelta(minutes=15)
    # Reopening the cancelled one over the new booking is refused too.
    with pytest.raises(IntegrityError) as refused:  # the database's own refusal
        async with platform.db.transaction() as session:
            reopened = await session.get(Appointment, held.id)
            assert reopened is not None
            reopened.status = AppointmentStatus.confirmed
            await session.flush()
    assert appointments.slot_taken(refused.value)


async def test_fifty_racing_requests_over_http_get_one_201(
    committed: tuple[Settings, Platform],
) -> None:
    """The same through the API: 50 customers' requests for one slot at once."""
    import httpx

    from studioflow.app import create_app, served
    from tests.factories import bearer_headers, create_account

    settings, platform = committed
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        owner = await create_account(client, platform, "racing-owner@example.com")
        h = owner.headers
        await client.put(
            "/api/v1/booking/profile",
            json={"slug": "race", "name": "Race", "timezone": "UTC", "currency": "EUR"},
            headers=h,
        )
        staff = (
            await client.post(
                "/api/v1/booking/staff",
                json={"user_id": owner.user_id, "display_name": "Only one"},
                headers=h,
            )
        ).json()["id"]
        offered = (
            await client.post(
                "/api/v1/services",
                json={"name": "Cut", "price": {"amount": 1000, "currency": "EUR"},
                      "duration_minutes": 30, "staff_ids": [staff]},
                headers=h,
            )
        ).json()["id"]  # fmt: skip
        await client.put(
            f"/api/v1/booking/staff/{staff}/hours",
            json=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
            headers=h,
        )
        day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        slot = (
            await client.get(f"/api/v1/booking/race/availability?service_id={offered}&date={day}")
        ).json()["slots"][0]["start"]
        customers = [await bearer_headers(platform, f"racer{n}@example.com") for n in range(50)]
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/appointments",
                    json={"service_id": offered, "start": slot},
                    headers=c,
                )
                for c in customers
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 49, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"slot_taken"}
