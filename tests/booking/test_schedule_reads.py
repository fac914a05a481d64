"""What availability reads, on both backends (issue 16): the business, service, active
performers and their hours in one query (by slug or client id, everyone or one person), and
exceptions and held times in another, as whole seconds since the epoch (the database does
the arithmetic: SQLite's unixepoch, PostgreSQL's extract), ids mapped back from their
text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.booking import appointments
from studioflow.booking.repository import ScheduleRepository
from studioflow.identity.service import create_personal_client
from studioflow.models import (
    Appointment,
    AppointmentStatus,
    BookingProfile,
    ExceptionKind,
    Service,
    StaffException,
    StaffMember,
    StaffService,
    User,
    WorkingHours,
)

DAY = datetime(2027, 5, 10, tzinfo=UTC)  # a Monday


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


async def person(
    session: AsyncSession, client_id: uuid.UUID, name: str, **extra: object
) -> StaffMember:
    user = User(email=f"{name}-{uuid.uuid4().hex[:6]}@example.com")
    session.add(user)
    await session.flush()
    member = StaffMember(client_id=client_id, user_id=user.id, display_name=name, **extra)
    session.add(member)
    await session.flush()
    return member


async def test_the_schedule_and_the_blocks_read_back_exactly(session: AsyncSession) -> None:
    owner = User(email=f"owner-{uuid.uuid4().hex[:6]}@example.com")
    session.add(owner)
    await session.flush()
    client = await create_personal_client(session, owner, plan="free")
    slug = f"salon-{uuid.uuid4().hex[:6]}"
    session.add(
        BookingProfile(
            client_id=client.id, slug=slug, name="Salon", timezone="Europe/Berlin",
            currency="EUR", horizon_days=45,
        )
    )  # fmt: skip
    cut = Service(
        client_id=client.id, name="Cut", price_minor=3000, currency="EUR",
        duration_minutes=60, buffer_minutes=15,
    )  # fmt: skip
    session.add(cut)
    await session.flush()
    ada = await person(session, client.id, "Ada")
    bo = await person(session, client.id, "Bo")  # performs it, no weekly hours
    gone = await person(session, client.id, "Gone", is_active=False)
    idle = await person(session, client.id, "Idle")  # does not perform it
    for member in (ada, bo, gone):
        session.add(StaffService(staff_id=member.id, service_id=cut.id))
    session.add_all(
        [
            WorkingHours(staff_id=ada.id, weekday=0, start_minute=540, end_minute=720),
            WorkingHours(staff_id=ada.id, weekday=0, start_minute=780, end_minute=1080),
            WorkingHours(staff_id=ada.id, weekday=2, start_minute=600, end_minute=960),
            WorkingHours(staff_id=idle.id, weekday=0, start_minute=540, end_minute=1080),
        ]
    )
    # Fractions of a second are cut off, as the walk in seconds always did.
    off = (DAY + timedelta(hours=13, microseconds=250_000), DAY + timedelta(hours=14, seconds=30))
    extra = (DAY + timedelta(days=5, hours=9), DAY + timedelta(days=5, hours=12))
    session.add_all(
        [
            StaffException(staff_id=ada.id, kind=ExceptionKind.time_off, starts_at=off[0],
                           ends_at=off[1]),
            StaffException(staff_id=bo.id, kind=ExceptionKind.extra_hours, starts_at=extra[0],
                           ends_at=extra[1]),
        ]
    )  # fmt: skip
    await session.flush()

    async def hold(member: StaffMember, start: datetime, **kw: object) -> uuid.UUID:
        made = await appointments.book(
            session, client_id=client.id, staff_id=member.id, service=cut, starts_at=start,
            timezone="Europe/Berlin", customer_id=None, **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        return made.id

    # The night before, running into the window: read, though it starts before it.
    late = await hold(ada, DAY - timedelta(minutes=30))
    kept = await hold(ada, DAY + timedelta(hours=9), status=AppointmentStatus.confirmed)
    moved = await hold(bo, DAY + timedelta(days=5, hours=10))
    dropped = await hold(ada, DAY + timedelta(hours=15))
    cancelled = await session.get(Appointment, dropped)
    assert cancelled is not None
    cancelled.status = AppointmentStatus.cancelled  # frees its time
    await session.flush()
    assert late and kept and moved

    schedules = ScheduleRepository(session)
    by_slug = await schedules.schedule(cut.id, slug=slug)
    by_client = await schedules.schedule(cut.id, client_id=client.id)
    assert by_slug == by_client
    assert by_slug is not None
    assert (by_slug.client_id, by_slug.timezone, by_slug.horizon_days) == (
        client.id, "Europe/Berlin", 45,
    )  # fmt: skip
    assert (by_slug.duration_minutes, by_slug.buffer_minutes, by_slug.is_active) == (60, 15, True)
    assert by_slug.staff == {
        ada.id: [(0, 540, 720), (0, 780, 1080), (2, 600, 960)],
        bo.id: [],
    }
    only_bo = await schedules.schedule(cut.id, slug=slug, staff_id=bo.id)
    assert only_bo is not None and only_bo.staff == {bo.id: []}
    nobody = await schedules.schedule(cut.id, slug=slug, staff_id=idle.id)
    assert nobody is not None and nobody.staff == {}  # the service, nobody to do it
    assert await schedules.schedule(uuid.uuid4(), slug=slug) is None
    assert await schedules.schedule(cut.id, slug="no-such-salon") is None
    assert await schedules.schedule(cut.id, client_id=uuid.uuid4()) is None

    window = (DAY, DAY + timedelta(days=7))
    blocks = await schedules.blocks_of([ada.id, bo.id, idle.id], *window)
    assert sorted(blocks[ada.id]["held"]) == [
        (seconds(DAY - timedelta(minutes=30)), seconds(DAY + timedelta(minutes=45))),
        (seconds(DAY + timedelta(hours=9)), seconds(DAY + timedelta(hours=10, minutes=15))),
    ]
    assert blocks[ada.id]["time_off"] == [(seconds(off[0]), seconds(off[1]))]
    assert blocks[ada.id]["time_off"][0][0] == seconds(DAY + timedelta(hours=13))
    assert blocks[bo.id] == {
        "extra_hours": [(seconds(extra[0]), seconds(extra[1]))],
        "held": [(seconds(DAY + timedelta(days=5, hours=10)),
                  seconds(DAY + timedelta(days=5, hours=11, minutes=15)))],
    }  # fmt: skip
    assert idle.id not in blocks
    # The one being moved is not in its own way; another stretch holds nothing.
    ignoring = await schedules.blocks_of([bo.id], *window, ignore=moved)
    assert "held" not in ignoring.get(bo.id, {})
    later = await schedules.blocks_of([ada.id], DAY + timedelta(days=20), DAY + timedelta(days=21))
    assert later == {}
