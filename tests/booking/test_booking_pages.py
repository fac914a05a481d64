"""The booking pages (issue 16): the business's profile, services, staff, calendar and list;
the public page by slug with its free times, signed out and in; my appointments, one
appointment, and the emailed link's page. Another workspace's appointment is 404."""

from __future__ import annotations

import re

import httpx

from studioflow.platform.runtime import Platform
from tests.booking.test_booking_api import a_business, next_monday
from tests.factories import create_account
from tests.identity.helpers import Account


def browser(client: httpx.AsyncClient, account: Account | None) -> dict[str, str]:
    """Pages read the session cookie (a bearer header is for the API): sign ``client`` in
    as ``account`` the way a browser is, or out; no headers to send."""
    client.cookies.clear()
    if account is not None:
        client.cookies.set("access_token", account.access_token)
    return {}


async def test_business_and_customer_pages(client: httpx.AsyncClient, platform: Platform) -> None:
    made = await a_business(client, platform)
    owner = made["owner"]
    assert isinstance(owner, Account)
    h = browser(client, owner)
    for path in ("/booking", "/booking/services", "/booking/staff", "/booking/calendar",
                 "/booking/calendar?view=week", "/booking/appointments?status=pending"):  # fmt: skip
        page = await client.get(path, headers=h)
        assert page.status_code == 200, (path, page.text[:300])
    staff_page = (await client.get("/booking/staff", headers=h)).text
    assert 'name="0.0.start" type="text"' in staff_page and 'value="09:00"' in staff_page
    # A day until midnight keeps its 24:00 (a time input cannot show it, and saved 23:59).
    await client.put(f"/api/v1/booking/staff/{made['staff']}/hours",
                     json=[*({"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)),
                           {"weekday": 6, "start": "18:00", "end": "24:00"}],
                     headers=owner.headers)  # fmt: skip
    assert 'value="24:00"' in (await client.get("/booking/staff", headers=h)).text
    # Time off shows under its person (read for the whole staff in one query).
    off = await client.post(f"/api/v1/booking/staff/{made['staff']}/exceptions",
                            json={"kind": "time_off", "reason": "Dentist",
                                  "starts_at": "2099-05-04T09:00:00Z",
                                  "ends_at": "2099-05-04T12:00:00Z"},
                            headers=owner.headers)  # fmt: skip
    assert off.status_code == 201, off.text
    staff_page = (await client.get("/booking/staff", headers=h)).text
    assert f"/exceptions/{off.json()['id']}" in staff_page and "Dentist" in staff_page
    assert "Bridal make-up" in (await client.get("/booking/services", headers=h)).text

    day = next_monday()
    browser(client, None)
    public = await client.get(f"/book/glow-studio?service_id={made['service']}&day={day}")
    assert public.status_code == 200
    assert "Create an account" in public.text and 'name="start"' in public.text
    assert re.search(r"<span>09:00</span>", public.text)
    customer = await create_account(client, platform, "walk-in@example.com")
    browser(client, customer)
    signed_in = await client.get(f"/book/glow-studio?service_id={made['service']}&day={day}")
    assert 'data-api="/api/v1/appointments"' in signed_in.text
    start = re.search(r'name="start" value="([^"]+)"', signed_in.text)
    assert start
    booked = await client.post("/api/v1/appointments",
                               json={"service_id": made["service"], "start": start.group(1)},
                               headers=customer.headers)  # fmt: skip
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["id"]
    mine = await client.get("/appointments")
    assert f"/appointments/{appointment}" in mine.text
    detail = await client.get(f"/appointments/{appointment}")
    assert detail.status_code == 200 and "Cancel the appointment" in detail.text
    # Signed in, the forms act as the customer; no link token is involved.
    assert f'data-api="/api/v1/appointments/{appointment}/cancel"' in detail.text
    assert f'data-api="/api/v1/appointments/{appointment}/reschedule"' in detail.text
    assert 'name="token"' not in detail.text
    assert "Bridal make-up" in detail.text
    h = browser(client, owner)
    as_business = await client.get(f"/appointments/{appointment}", headers=h)
    assert as_business.status_code == 200 and "No-show" in as_business.text
    calendar = await client.get(f"/booking/calendar?day={day}", headers=h)
    assert f"/appointments/{appointment}" in calendar.text
    stranger = await create_account(client, platform, "stranger@example.com")
    browser(client, stranger)
    hidden = await client.get(f"/appointments/{appointment}")
    assert hidden.status_code == 404
    no_link = await client.get(f"/appointments/{appointment}/manage?token=nope")
    assert no_link.status_code == 404
    unknown = await client.get("/book/no-such-business")
    assert unknown.status_code == 404
    # The shell's bell counts the unread confirmation.
    browser(client, customer)
    shell = await client.get("/notifications")
    assert "Booked: Bridal make-up" in shell.text and "1 new" in shell.text


async def test_a_day_far_away_or_malformed_is_not_an_error(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    owner = made["owner"]
    assert isinstance(owner, Account)
    for path in (
        f"/book/glow-studio?service_id={made['service']}&day=0001-01-01",
        f"/book/glow-studio?service_id={made['service']}&day=9999-12-31",
        f"/book/glow-studio?service_id={made['service']}&day=not-a-day",
    ):
        assert (await client.get(path)).status_code == 200, path
    for path in ("/booking/calendar?day=0001-01-01", "/booking/calendar?day=9999-12-31&view=week",
                 "/booking/appointments?day_from=0001-01-01&day_to=9999-12-31"):  # fmt: skip
        browser(client, owner)
        assert (await client.get(path)).status_code == 200, path
