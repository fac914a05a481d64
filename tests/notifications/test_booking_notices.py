"""What booking tells people (issue 16): the customer's confirmation email with the calendar
invitation and a single-use link that cancels without signing in; the staff member's in-app
notice; the ``.ics`` with a stable UID, SEQUENCE rising on every change and METHOD:CANCEL;
reminders 24 h and 2 h before, each sent once however often and by however many the cron
runs."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import Message as Mail

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import func, select, update

from studioflow.booking import notices
from studioflow.models import ActionToken, Appointment, Notification
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import wait_for_mail
from tests.notifications.conftest import Live


async def a_booking(client: httpx.AsyncClient, platform: Platform) -> dict[str, object]:
    owner = await create_account(client, platform, "studio@example.com")
    h = owner.headers
    await client.put("/api/v1/booking/profile",
                     json={"slug": "lumen", "name": "Lumen Studio", "timezone": "UTC",
                           "currency": "EUR", "auto_confirm": False, "address": "1 Main St"},
                     headers=h)  # fmt: skip
    staff = (await client.post("/api/v1/booking/staff",
                               json={"user_id": owner.user_id, "display_name": "Noor"},
                               headers=h)).json()["id"]  # fmt: skip
    offered = (await client.post("/api/v1/services",
                                 json={"name": "Brows", "price": {"amount": 3500, "currency": "EUR"},
                                       "duration_minutes": 30, "staff_ids": [staff]},
                                 headers=h)).json()["id"]  # fmt: skip
    await client.put(f"/api/v1/booking/staff/{staff}/hours",
                     json=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
                     headers=h)  # fmt: skip
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    slots = (await client.get(f"/api/v1/booking/lumen/availability?service_id={offered}&date={day}")
             ).json()["slots"]  # fmt: skip
    customer = await create_account(client, platform, "kim@example.com")
    booked = await client.post("/api/v1/appointments",
                               json={"service_id": offered, "start": slots[10]["start"]},
                               headers=customer.headers)  # fmt: skip
    assert booked.status_code == 201, booked.text
    return {"owner": owner, "customer": customer, "appointment": booked.json(), "slots": slots}


def invitation_of(mail: Mail) -> Calendar:
    for part in mail.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return Calendar.from_ical(payload)
    raise AssertionError("no calendar attachment")


def manage_link(mail: Mail) -> str:
    text = next(
        p.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for p in mail.walk()
        if p.get_content_type() == "text/plain"
    )
    found = re.search(r"http://testserver(/appointments/[^ \n]+/manage\?token=[\w-]+)", text)
    assert found, text
    return found.group(1)


async def test_booking_mails_the_customer_a_link_that_cancels_once(live: Live) -> None:
    client, platform = live.client, live.platform
    made = await a_booking(client, platform)
    appointment = made["appointment"]
    assert isinstance(appointment, dict)
    mail = await wait_for_mail(platform, "kim@example.com", subject="Booked: Brows")
    event = invitation_of(mail).walk("VEVENT")[0]
    assert str(event["uid"]) == f"appointment-{appointment['id']}@studioflow"
    assert int(event["sequence"]) == 0 and str(event["status"]) == "TENTATIVE"
    assert event.decoded("dtstart") == datetime.fromisoformat(appointment["start"])
    link = manage_link(mail)
    # The staff member learns of it in the app (and by mail: their default).
    owner = made["owner"]
    inbox = await client.get("/api/v1/notifications", headers=owner.headers)  # type: ignore[attr-defined]
    assert [n["event"] for n in inbox.json()["items"]] == ["appointment.created"]
    # The business confirms: the customer is told; the invitation's SEQUENCE rises.
    confirmed = await client.post(f"/api/v1/appointments/{appointment['id']}/confirm",
                                  headers=owner.headers)  # type: ignore[attr-defined]  # fmt: skip
    assert confirmed.status_code == 200
    mail = await wait_for_mail(platform, "kim@example.com", subject="Confirmed: Brows")
    assert int(invitation_of(mail).walk("VEVENT")[0]["sequence"]) == 1
    # The first email's link still works (each email has its own), once, without signing in.
    token = link.split("token=")[1]
    url = f"/api/v1/appointments/{appointment['id']}/manage"
    cancelled = await client.post(url, json={"token": token, "action": "cancel",
                                             "reason": "Sick"})  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(url, json={"token": token, "action": "cancel"})
    assert again.status_code == 404
    wrong = await client.post(url, json={"token": "x" * 43, "action": "cancel"})
    assert wrong.status_code == 404
    # The .ics now cancels the event in the customer's calendar.
    customer = made["customer"]
    ics = await client.get(f"/api/v1/appointments/{appointment['id']}.ics",
                           headers=customer.headers)  # type: ignore[attr-defined]  # fmt: skip
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(ics.content)
    assert str(calendar["method"]) == "CANCEL"
    assert int(calendar.walk("VEVENT")[0]["sequence"]) == 2
    stranger = await create_account(client, platform, "nosy@example.com")
    hidden = await client.get(f"/api/v1/appointments/{appointment['id']}.ics",
                              headers=stranger.headers)  # fmt: skip
    assert hidden.status_code == 404
    # The business hears of the cancellation.
    await wait_for_mail(platform, "studio@example.com", subject="Cancelled")


async def test_reminders_go_once_24h_and_2h_before(live: Live) -> None:
    client, platform = live.client, live.platform
    made = await a_booking(client, platform)
    appointment = made["appointment"]
    assert isinstance(appointment, dict)
    start = datetime.fromisoformat(appointment["start"])
    async with platform.db.transaction() as session:  # booked a week ago
        await session.execute(
            update(Appointment).values(created_at=start - timedelta(days=7), status="confirmed")
        )

    async def run(now: datetime) -> None:
        await notices.send_reminders(platform, now)

    async def reminders() -> list[str]:
        async with platform.db.sessionmaker() as session:
            rows = await session.scalars(
                select(Notification.dedupe_key).where(Notification.event == "appointment.reminder")
            )
            return sorted(rows.all())

    await run(start - timedelta(hours=30))  # too early for either
    assert await reminders() == []
    # Several workers, several runs, inside the 24 h window: one reminder.
    await asyncio.gather(*(run(start - timedelta(hours=23)) for _ in range(3)))
    links = await manage_links(platform)
    await run(start - timedelta(hours=22))
    assert [k.split(":")[3] for k in await reminders()] == ["24h"]
    assert await manage_links(platform) == links  # a run that tells nobody makes no link
    await run(start - timedelta(minutes=90))
    await run(start - timedelta(minutes=60))
    assert [k.split(":")[3] for k in await reminders()] == ["24h", "2h"]
    mail = await wait_for_mail(platform, "kim@example.com", subject="Reminder: Brows", seen=1)
    assert "Lumen Studio" in mail["Subject"]


async def manage_links(platform: Platform) -> int:
    async with platform.db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ActionToken)
            .where(ActionToken.purpose == notices.MANAGE)
        )
    return int(count or 0)


async def test_reminders_page_through_a_full_window_and_never_repeat(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run reads only reminders not yet handled, a page per transaction: a window fuller
    than a page is read to its end (the old scan stopped at a fixed number of rows, all of
    them perhaps handled already), and the next run finds nothing to do."""
    client, platform = live.client, live.platform
    made = await a_booking(client, platform)
    slots = made["slots"]
    assert isinstance(slots, list)
    customer, appointment = made["customer"], made["appointment"]
    assert isinstance(appointment, dict)
    for n in (12, 14, 16, 18):  # four more, half an hour apart
        booked = await client.post(
            "/api/v1/appointments",
            json={"service_id": appointment["service_id"], "start": slots[n]["start"]},
            headers=customer.headers,  # type: ignore[attr-defined]
        )
        assert booked.status_code == 201, booked.text
    first = datetime.fromisoformat(slots[10]["start"])
    async with platform.db.transaction() as session:  # all booked a week ago
        await session.execute(
            update(Appointment).values(created_at=first - timedelta(days=7), status="confirmed")
        )
    monkeypatch.setattr(notices, "REMINDER_PAGE", 2)
    assert await notices.send_reminders(platform, first - timedelta(hours=22)) == 5
    assert await notices.send_reminders(platform, first - timedelta(hours=22)) == 0
    assert await notices.send_reminders(platform, first - timedelta(hours=21)) == 0
    async with platform.db.sessionmaker() as session:
        keys = (
            await session.scalars(
                select(Notification.dedupe_key).where(Notification.event == "appointment.reminder")
            )
        ).all()
    assert len(keys) == len(set(keys)) == 5
    assert {k.split(":")[3] for k in keys} == {"24h"}
