"""Booking under load (issue 16).

1. Availability: a business with 20 staff, each working Monday to Saturday 09:00-18:00 with
   four appointments a day and a half day off a week, one 45-minute service with a 15-minute
   buffer performed by all; the free slots of the next 30 days through the public API (three
   requests: 14 + 14 + 2 days), p50 and p95 of 20 rounds (goal: ≤ 50 ms for the 30 days).
   Baseline in the same run: the business's public page (`GET /api/v1/booking/{slug}`).
2. Contention: 50 customers at once on 10 free slots of one artist, each trying slots in a
   random order until one is theirs or none is left: the wall time, the answers, and a check
   that no two open appointments overlap. Baseline: the same 10 bookings made one after
   another by one customer.

SQLite always; PostgreSQL too when STUDIOFLOW_BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert, select

from bench.admin_bench import _postgres
from studioflow.app import create_app, served
from studioflow.models import (
    OPEN_APPOINTMENT,
    Appointment,
    BookingProfile,
    Client,
    Membership,
    Service,
    StaffException,
    StaffMember,
    StaffService,
    User,
    WorkingHours,
)
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import Platform, build_platform, freeze_startup_heap
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings

STAFF = 20
DAYS = 30
ROUNDS = 20
CUSTOMERS = 50
SLOTS = 10
ZONE = ZoneInfo("Europe/Berlin")
PASSWORD = "a bench passphrase 42"


async def _business(
    platform: Platform, slug: str, staff: int, *, busy: bool = True
) -> dict[str, Any]:
    """A business of ``staff`` artists with hours, appointments and time off (rows inserted
    directly: the figures are about reading them)."""
    rng = random.Random(16)
    client_id = uuid.uuid4()
    service_id = uuid.uuid4()
    staff_ids = [uuid.uuid4() for _ in range(staff)]
    today = datetime.now(ZONE).date()
    async with platform.db.transaction() as session:
        await session.execute(insert(Client), [{"id": client_id, "name": slug}])
        users = [{"id": uuid.uuid4(), "email": f"{slug}-{i}@bench.example"} for i in range(staff)]
        await session.execute(insert(User), users)
        await session.execute(
            insert(Membership),
            [{"client_id": client_id, "user_id": u["id"], "role": "owner"} for u in users],
        )
        session.add(
            BookingProfile(
                client_id=client_id, slug=slug, name=slug, timezone=str(ZONE), currency="EUR",
                horizon_days=60,
            )
        )  # fmt: skip
        session.add(
            Service(
                id=service_id, client_id=client_id, name="Cut", price_minor=3000, currency="EUR",
                duration_minutes=45, buffer_minutes=15,
            )
        )  # fmt: skip
        await session.flush()
        await session.execute(
            insert(StaffMember),
            [
                {"id": s, "client_id": client_id, "user_id": users[i]["id"],
                 "display_name": f"Artist {i}"}
                for i, s in enumerate(staff_ids)
            ],
        )  # fmt: skip
        await session.execute(
            insert(StaffService), [{"staff_id": s, "service_id": service_id} for s in staff_ids]
        )
        await session.execute(
            insert(WorkingHours),
            [
                {"id": uuid.uuid4(), "staff_id": s, "weekday": d,
                 "start_minute": 540 if busy else 0, "end_minute": 1080 if busy else 1440}
                for s in staff_ids
                for d in range(6)
            ],
        )  # fmt: skip
        appointments: list[dict[str, Any]] = []
        exceptions: list[dict[str, Any]] = []
        for s in staff_ids if busy else []:
            for n in range(DAYS + 2):
                day = today + timedelta(days=n)
                if day.weekday() == 6:
                    continue
                if day.weekday() == rng.randrange(6):  # a half day off a week
                    off = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=13)
                    exceptions.append(
                        {"id": uuid.uuid4(), "staff_id": s, "kind": "time_off",
                         "starts_at": off, "ends_at": off + timedelta(hours=5), "reason": ""}
                    )  # fmt: skip
                for hour in rng.sample(range(9, 17), 4):
                    start = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=hour)
                    appointments.append(
                        {"id": uuid.uuid4(), "client_id": client_id, "staff_id": s,
                         "service_id": service_id, "status": "confirmed",
                         "local_date": day, "local_time": f"{hour:02d}:00",
                         "timezone": str(ZONE), "starts_at": start,
                         "ends_at": start + timedelta(minutes=45),
                         "blocked_until": start + timedelta(minutes=60),
                         "service_name": "Cut", "price_minor": 3000, "currency": "EUR",
                         "notes": "", "sequence": 0}
                    )  # fmt: skip
        if exceptions:
            await session.execute(insert(StaffException), exceptions)
        if appointments:
            await session.execute(insert(Appointment), appointments)
    return {"service": service_id, "staff": staff_ids, "appointments": len(appointments)}


async def _timed(client: httpx.AsyncClient, paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
    }


async def _availability(client: httpx.AsyncClient, made: dict[str, Any]) -> dict[str, Any]:
    first = datetime.now(ZONE).date() + timedelta(days=1)
    base = f"/api/v1/booking/bench-salon/availability?service_id={made['service']}"
    paths = [
        f"{base}&date={first}&days=14",
        f"{base}&date={first + timedelta(days=14)}&days=14",
        f"{base}&date={first + timedelta(days=28)}&days=2",
    ]
    slots = 0
    for path in paths:
        slots += len((await client.get(path)).json()["slots"])
    trivial, month = [], []
    for _ in range(ROUNDS + 2):
        trivial.append(await _timed(client, ["/api/v1/booking/bench-salon"]))
        month.append(await _timed(client, paths))
    results: dict[str, Any] = {
        "slots_in_30_days": slots,
        "appointments": made["appointments"],
        "public_page": _summary(trivial[2:]),
        "availability_30_days": _summary(month[2:]),
    }
    results["ratio_to_public_page"] = round(
        results["availability_30_days"]["p50_ms"] / results["public_page"]["p50_ms"], 1
    )
    return results


async def _customers(platform: Platform, n: int) -> list[dict[str, str]]:
    """Verified accounts with a session started directly (the sign-in route's per-address
    limit is not what this measures)."""
    from studioflow.identity.context import Context
    from studioflow.identity.service import create_personal_client, start_session

    headers = []
    async with platform.db.transaction() as session:
        for i in range(n):
            user = User(
                email=f"customer-{i}-{uuid.uuid4().hex[:6]}@bench.example",
                email_verified_at=datetime.now(UTC),
            )
            session.add(user)
            await session.flush()
            await create_personal_client(session, user, plan="free")
            signed = await start_session(
                platform, session, user, method="test", context=Context(ip="127.0.0.1")
            )
            headers.append({"Authorization": f"Bearer {signed.access_token}"})
    return headers


def _apart(starts: list[str]) -> list[str]:
    """The first SLOTS starts an hour apart (45 minutes and a 15-minute buffer each): slots
    that do not take each other's time."""
    chosen: list[str] = []
    for start in starts:
        if not chosen or datetime.fromisoformat(start) >= datetime.fromisoformat(
            chosen[-1]
        ) + timedelta(hours=1):
            chosen.append(start)
    return chosen[:SLOTS]


async def _contention(client: httpx.AsyncClient, platform: Platform) -> dict[str, Any]:
    made = await _business(platform, "bench-race", 1, busy=False)
    day = datetime.now(ZONE).date() + timedelta(days=40)
    while day.weekday() == 6:
        day += timedelta(days=1)
    free = (
        await client.get(
            f"/api/v1/booking/bench-race/availability?service_id={made['service']}&date={day}"
        )
    ).json()["slots"]
    starts = _apart([s["start"] for s in free])
    customers = await _customers(platform, CUSTOMERS + 1)
    answers: dict[int, int] = {}

    async def customer(headers: dict[str, str], seed: int) -> None:
        order = starts[:]
        random.Random(seed).shuffle(order)
        for start in order:
            answer = await client.post(
                "/api/v1/appointments",
                json={"service_id": str(made["service"]), "start": start},
                headers=headers,
            )
            answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
            if answer.status_code == 201:
                return

    started = time.perf_counter()
    await asyncio.gather(*(customer(h, i) for i, h in enumerate(customers[:CUSTOMERS])))
    contended = time.perf_counter() - started
    async with platform.db.sessionmaker() as session:
        held = (
            await session.execute(
                select(Appointment.starts_at, Appointment.blocked_until).where(
                    Appointment.staff_id == made["staff"][0],
                    Appointment.status.in_(OPEN_APPOINTMENT),
                    Appointment.local_date == day,
                )
            )
        ).all()
    held = sorted(held)
    overlaps = sum(1 for a, b in itertools.pairwise(held) if b[0] < a[1])
    # Baseline: the same kind of booking, uncontended, one after another (the next day).
    other = day + timedelta(days=1)
    while other.weekday() == 6:
        other += timedelta(days=1)
    quiet = (
        await client.get(
            f"/api/v1/booking/bench-race/availability?service_id={made['service']}&date={other}"
        )
    ).json()["slots"]
    quiet_starts = _apart([s["start"] for s in quiet])
    started = time.perf_counter()
    for start in quiet_starts:
        answer = await client.post(
            "/api/v1/appointments",
            json={"service_id": str(made["service"]), "start": start},
            headers=customers[-1],
        )
        assert answer.status_code == 201, answer.text
    sequential = time.perf_counter() - started
    return {
        "slots": len(starts),
        "answers": {str(k): v for k, v in sorted(answers.items())},
        "booked": answers.get(201, 0),
        "overlapping_appointments": overlaps,
        "contended_seconds": round(contended, 2),
        "sequential_10_seconds": round(sequential, 2),
        "requests_per_second_contended": round(sum(answers.values()) / contended, 1),
    }


async def _measure(settings: Settings) -> dict[str, Any]:
    platform = build_platform(settings)
    await upgrade(platform.db.engine)
    async with platform.db.transaction() as session:
        await seed_reference_data(session)
    made = await _business(platform, "bench-salon", STAFF)
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    freeze_startup_heap()  # what a server process does once started (platform/runtime.py)
    transport = httpx.ASGITransport(app=served(app))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            results = {"availability": await _availability(client, made)}
            print("availability", results["availability"], flush=True)
            results["contention"] = await _contention(client, platform)
            print("contention", results["contention"], flush=True)
    finally:
        await platform.close()
    return results


async def run() -> dict[str, object]:
    from studioflow.platform.observability import configure_logging

    configure_logging(json_logs=True, level="warning")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            data_dir=root / "data",
            secret_key="b" * 8 + uuid.uuid4().hex,
            database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}",
            # The bench's customers are many at one address: not what the limit is for.
            rate_limit_per_ip="100000/minute",
        )
        results["sqlite"] = await _measure(settings)
        database_url = os.environ.get("STUDIOFLOW_BENCH_DATABASE_URL")
        if database_url:
            async with _postgres(database_url) as url:
                results["postgresql"] = await _measure(
                    settings.model_copy(update={"database_url": url})
                )
    return results
