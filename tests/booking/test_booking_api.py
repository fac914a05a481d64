"""The booking API end to end (issue 16): a business sets its profile, a category, a
service and a staff member's hours; anyone reads its page and free slots; a customer books
one; the same slot again is 409 ``slot_taken``, a time nobody works 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from studioflow.booking import lifecycle
from studioflow.platform.runtime import Platform
from tests.factories import create_account

BERLIN = ZoneInfo("Europe/Berlin")


def next_monday() -> str:
    day = datetime.now(BERLIN).date() + timedelta(days=3)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return day.isoformat()


async def a_business(client: httpx.AsyncClient, platform: Platform) -> dict[str, object]:
    owner = await create_account(client, platform, "glow@example.com")
    h = owner.headers
    profile = await client.put(
        "/api/v1/booking/profile",
        json={"slug": "glow-studio", "name": "Glow Studio", "timezone": "Europe/Berlin",
              "currency": "EUR", "location": {"lat": 52.52, "lng": 13.405}},
        headers=h,
    )  # fmt: skip
    assert profile.status_code == 200, profile.text
    category = await client.post("/api/v1/service-categories", json={"name": "Make-up"}, headers=h)
    assert category.status_code == 201, category.text
    staff = await client.post(
        "/api/v1/booking/staff",
        json={"user_id": owner.user_id, "display_name": "Mara"},
        headers=h,
    )
    assert staff.status_code == 201, staff.text
    offered = await client.post(
        "/api/v1/services",
        json={"category_id": category.json()["id"], "name": "Bridal make-up",
              "price": {"amount": 12000, "currency": "EUR"}, "duration_minutes": 60,
              "buffer_minutes": 15, "staff_ids": [staff.json()["id"]]},
        headers=h,
    )  # fmt: skip
    assert offered.status_code == 201, offered.text
    hours = await client.put(
        f"/api/v1/booking/staff/{staff.json()['id']}/hours",
        json=[{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)],
        headers=h,
    )
    assert hours.status_code == 200, hours.text
    assert hours.json()["hours"][0] == {"weekday": 0, "start": "09:00", "end": "17:00"}
    return {"owner": owner, "service": offered.json()["id"], "staff": staff.json()["id"]}


async def test_a_customer_books_a_free_slot_once(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    page = await client.get("/api/v1/booking/glow-studio")  # no sign-in
    assert page.status_code == 200
    assert [s["name"] for s in page.json()["services"]] == ["Bridal make-up"]
    assert [s["display_name"] for s in page.json()["staff"]] == ["Mara"]
    day = next_monday()
    free = await client.get(
        f"/api/v1/booking/glow-studio/availability?service_id={made['service']}&date={day}"
    )
    assert free.status_code == 200, free.text
    slots = free.json()["slots"]
    assert free.json()["timezone"] == "Europe/Berlin"
    first = datetime.fromisoformat(slots[0]["start"])
    assert first.astimezone(BERLIN).strftime("%H:%M") == "09:00"
    assert slots[-1]["start"].endswith(("16:00:00+01:00", "16:00:00+02:00"))  # fits by 17:00
    customer = await create_account(client, platform, "bride@example.com")
    body = {"service_id": made["service"], "start": slots[0]["start"], "notes": "Early, please"}
    booked = await client.post("/api/v1/appointments", json=body, headers=customer.headers)
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    assert (appointment["date"], appointment["time"], appointment["status"]) == (
        day,
        "09:00",
        "confirmed",
    )
    assert appointment["price"] == {"amount": 12000, "currency": "EUR"}
    again = await client.post("/api/v1/appointments", json=body, headers=customer.headers)
    assert again.status_code == 409 and again.json()["code"] == "slot_taken"
    # With Idempotency-Key a retried booking answers the first one again.
    keyed = {**customer.headers, "Idempotency-Key": "book-2"}
    second = {**body, "start": slots[-1]["start"]}
    once = await client.post("/api/v1/appointments", json=second, headers=keyed)
    twice = await client.post("/api/v1/appointments", json=second, headers=keyed)
    assert once.status_code == twice.status_code == 201
    assert once.json()["id"] == twice.json()["id"]
    assert twice.headers["idempotent-replayed"] == "true"
    reused = await client.post("/api/v1/appointments", json=body, headers=keyed)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    evening = datetime.fromisoformat(slots[0]["start"]).replace(hour=20).astimezone(UTC)
    late = await client.post(
        "/api/v1/appointments",
        json={"service_id": made["service"], "start": evening.isoformat()},
        headers=customer.headers,
    )
    assert late.status_code == 422 and late.json()["code"] == "outside_availability"
    after = await client.get(
        f"/api/v1/booking/glow-studio/availability?service_id={made['service']}&date={day}"
    )
    starts = [datetime.fromisoformat(s["start"]).astimezone(BERLIN).strftime("%H:%M")
              for s in after.json()["slots"]]  # fmt: skip
    assert starts[0] == "10:15"  # the hour and its 15-minute buffer are held


async def test_the_business_side_refuses_what_is_wrong(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    owner = made["owner"]
    other = await create_account(client, platform, "rival@example.com")
    for body, status, code in (
        ({"timezone": "Mars/Olympus"}, 422, "invalid_timezone"),
        ({"slug": "profile"}, 422, "slug_taken"),
    ):
        answer = await client.put(
            "/api/v1/booking/profile",
            json={"slug": "rival", "name": "Rival", "timezone": "Europe/Paris",
                  "currency": "EUR", **body},
            headers=other.headers,
        )  # fmt: skip
        assert answer.status_code == status and answer.json()["code"] == code, body
    taken = await client.put(
        "/api/v1/booking/profile",
        json={"slug": "glow-studio", "name": "Rival", "timezone": "Europe/Paris",
              "currency": "EUR"},
        headers=other.headers,
    )  # fmt: skip
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"
    overlapping = await client.put(
        f"/api/v1/booking/staff/{made['staff']}/hours",
        json=[{"weekday": 0, "start": "09:00", "end": "12:00"},
              {"weekday": 0, "start": "11:00", "end": "15:00"}],
        headers=owner.headers,  # type: ignore[attr-defined]
    )  # fmt: skip
    assert overlapping.status_code == 422 and overlapping.json()["code"] == "invalid_hours"
    # Staff must be a member; another business's staff or service answers 404.
    stranger = await client.post(
        "/api/v1/booking/staff",
        json={"user_id": other.user_id, "display_name": "Not ours"},
        headers=owner.headers,  # type: ignore[attr-defined]
    )
    assert stranger.status_code == 404
    foreign = await client.patch(
        f"/api/v1/services/{made['service']}",
        json={"name": "Mine now", "price": {"amount": 1, "currency": "EUR"},
              "duration_minutes": 30},
        headers=other.headers,
    )  # fmt: skip
    assert foreign.status_code in (403, 404)
    borrowed = await client.post(
        "/api/v1/services",
        json={"name": "Borrowed", "price": {"amount": 1, "currency": "EUR"},
              "duration_minutes": 30, "staff_ids": [made["staff"]]},
        headers=other.headers,
    )  # fmt: skip
    assert borrowed.status_code in (403, 404)


async def test_appointments_move_through_their_states(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    owner = made["owner"]
    business = owner.headers  # type: ignore[attr-defined]
    customer = await create_account(client, platform, "bride@example.com")
    stranger = await create_account(client, platform, "nosy@example.com")
    day = next_monday()
    url = f"/api/v1/booking/glow-studio/availability?service_id={made['service']}&date={day}"
    slots = (await client.get(url)).json()["slots"]

    async def book(start: str) -> dict[str, object]:
        answer = await client.post(
            "/api/v1/appointments",
            json={"service_id": made["service"], "start": start},
            headers=customer.headers,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]

    first = await book(slots[0]["start"])
    path = f"/api/v1/appointments/{first['id']}"
    assert (await client.get(path, headers=customer.headers)).status_code == 200
    assert (await client.get(path, headers=business)).status_code == 200
    assert (await client.get(path, headers=stranger.headers)).status_code == 404
    mine = await client.get("/api/v1/appointments", headers=customer.headers)
    theirs = await client.get("/api/v1/appointments?as=business", headers=business)
    assert [a["id"] for a in mine.json()["items"]] == [first["id"]]
    assert [a["id"] for a in theirs.json()["items"]] == [first["id"]]
    assert (await client.get("/api/v1/appointments", headers=stranger.headers)).json()[
        "items"
    ] == []
    # Confirmed already (the profile auto-confirms); only the business completes.
    again = await client.post(f"{path}/confirm", headers=business)
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    refused = await client.post(f"{path}/complete", headers=customer.headers)
    assert refused.status_code == 403
    # Rescheduled to a later free slot: the old time is free again.
    later = slots[8]["start"]
    moved = await client.post(f"{path}/reschedule", json={"start": later}, headers=customer.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"] == later
    free_now = [s["start"] for s in (await client.get(url)).json()["slots"]]
    assert slots[0]["start"] in free_now and later not in free_now
    cancelled = await client.post(
        f"{path}/cancel", json={"reason": "Plans changed"}, headers=customer.headers
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    twice = await client.post(f"{path}/cancel", json={}, headers=customer.headers)
    assert twice.status_code == 409
    # A long notice: the customer may no longer cancel; the business still may.
    await client.put(
        "/api/v1/booking/profile",
        json={"slug": "glow-studio", "name": "Glow Studio", "timezone": "Europe/Berlin",
              "currency": "EUR", "cancellation_notice_hours": 720, "auto_confirm": False},
        headers=business,
    )  # fmt: skip
    second = await book(slots[0]["start"])
    assert second["status"] == "pending"
    late = await client.post(
        f"/api/v1/appointments/{second['id']}/cancel", json={}, headers=customer.headers
    )
    assert late.status_code == 409 and late.json()["code"] == "too_late"
    # Not confirmed within a day: the hourly job cancels it.
    async with platform.db.transaction() as session:
        gone = await lifecycle.cancel_unconfirmed(
            platform, session, datetime.now(UTC) + timedelta(hours=25)
        )
    assert gone == 1
    state = await client.get(f"/api/v1/appointments/{second['id']}", headers=business)
    assert state.json()["status"] == "cancelled"


async def test_moments_at_the_ends_of_the_calendar_are_refused_cleanly(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    """Year 1 and 9999 (no 500s), and no slots before today or past the horizon."""
    made = await a_business(client, platform)
    customer = await create_account(client, platform, "edge@example.com")
    url = f"/api/v1/booking/glow-studio/availability?service_id={made['service']}"
    for day in ("9999-12-31", "0001-01-01", "2000-01-03"):
        free = await client.get(f"{url}&date={day}")
        assert free.status_code == 200 and free.json()["slots"] == [], day
    for start in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        refused = await client.post(
            "/api/v1/appointments",
            json={"service_id": made["service"], "start": start},
            headers=customer.headers,
        )
        assert refused.status_code == 422, (start, refused.text)
    too_many = await client.put(
        f"/api/v1/booking/staff/{made['staff']}/hours",
        json=[{"weekday": 0, "start": "09:00", "end": "09:05"}] * 101,
        headers=made["owner"].headers,  # type: ignore[attr-defined]
    )
    assert too_many.status_code == 422


async def test_time_off_and_extra_hours_change_the_free_slots(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    h = made["owner"].headers  # type: ignore[attr-defined]
    day = next_monday()
    url = f"/api/v1/booking/glow-studio/availability?service_id={made['service']}&date={day}"
    before = [s["start"] for s in (await client.get(url)).json()["slots"]]
    nine = datetime.fromisoformat(before[0])
    exceptions = f"/api/v1/booking/staff/{made['staff']}/exceptions"
    off = await client.post(
        exceptions,
        json={"starts_at": nine.isoformat(), "ends_at": (nine + timedelta(hours=3)).isoformat(),
              "kind": "time_off", "reason": "Dentist"},
        headers=h,
    )  # fmt: skip
    assert off.status_code == 201, off.text
    evening = nine.replace(hour=18)
    extra = await client.post(
        exceptions,
        json={"starts_at": evening.isoformat(), "ends_at": (evening + timedelta(hours=2)).isoformat(),
              "kind": "extra_hours"},
        headers=h,
    )  # fmt: skip
    assert extra.status_code == 201, extra.text
    after = [datetime.fromisoformat(s["start"]) for s in (await client.get(url)).json()["slots"]]
    local = [s.astimezone(BERLIN).strftime("%H:%M") for s in after]
    assert "09:00" not in local and "11:00" not in local and "12:00" in local
    assert "18:00" in local and "19:00" in local  # 60 min + 15 buffer fit until 20:00
    listed = await client.get(exceptions, headers=h)
    assert [e["kind"] for e in listed.json()] == ["time_off", "extra_hours"]
    assert listed.json()[0]["reason"] == "Dentist"
    backwards = await client.post(
        exceptions,
        json={"starts_at": evening.isoformat(), "ends_at": nine.isoformat()},
        headers=h,
    )
    assert backwards.status_code == 422 and backwards.json()["code"] == "invalid_hours"
    missing = await client.post(exceptions, json={}, headers=h)
    assert missing.status_code == 422
    gone = await client.delete(f"{exceptions}/{off.json()['id']}", headers=h)
    assert gone.status_code == 204
    again = await client.delete(f"{exceptions}/{off.json()['id']}", headers=h)
    assert again.status_code == 404
    restored = [s["start"] for s in (await client.get(url)).json()["slots"]]
    assert restored[0] == before[0]


async def test_artists_near_a_place(client: httpx.AsyncClient, platform: Platform) -> None:
    made = await a_business(client, platform)  # Berlin, 52.52 13.405
    h = made["owner"].headers  # type: ignore[attr-defined]
    # A second artist of the same business works from Potsdam (about 27 km away).
    helper = await create_account(client, platform, "helper@example.com")
    owner_client = made["owner"].client_id  # type: ignore[attr-defined]
    import uuid

    from studioflow.models import Membership

    async with platform.db.transaction() as session:
        session.add(Membership(client_id=uuid.UUID(owner_client), user_id=uuid.UUID(helper.user_id),
                               role="collaborator"))  # fmt: skip
    second = await client.post(
        "/api/v1/booking/staff",
        json={"user_id": helper.user_id, "display_name": "Ola", "service_ids": [made["service"]],
              "location": {"lat": 52.3906, "lng": 13.0645}},
        headers=h,
    )  # fmt: skip
    assert second.status_code == 201, second.text
    near = await client.get("/api/v1/booking/artists?near=52.5200,13.4050&radius_km=10")
    assert near.status_code == 200, near.text
    assert [a["display_name"] for a in near.json()["items"]] == ["Mara"]
    assert near.json()["items"][0]["distance_km"] == 0.0
    assert near.json()["items"][0]["business"]["slug"] == "glow-studio"
    wider = (await client.get("/api/v1/booking/artists?near=52.52,13.405&radius_km=40")).json()
    assert [a["display_name"] for a in wider["items"]] == ["Mara", "Ola"]
    assert 25 < wider["items"][1]["distance_km"] < 30
    assert wider["items"][1]["services"][0]["name"] == "Bridal make-up"
    none = await client.get("/api/v1/booking/artists?near=52.52,13.405&radius_km=40&service=nails")
    assert none.json()["items"] == []
    bridal = await client.get(
        "/api/v1/booking/artists?near=52.52,13.405&radius_km=40&service=BRIDAL"
    )
    assert len(bridal.json()["items"]) == 2
    for bad in ("near=91,0", "near=nowhere", "near=52.5,13.4&radius_km=0"):
        wrong = await client.get(f"/api/v1/booking/artists?{bad}")
        assert wrong.status_code == 422, bad
    far = await client.get("/api/v1/booking/artists?near=-33.86,151.2&radius_km=500")
    assert far.json()["items"] == []
