"""Booking deposits (issue 17): a service asks for part of its price at booking; the
appointment holds the time but stays pending until the deposit's payment succeeds, then
is confirmed; a cancelled appointment's deposit goes back; one not paid in time is
cancelled and its time is free again, and a payment that arrives after that is refunded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from studioflow.booking import deposits
from studioflow.platform.runtime import Platform
from tests.booking.test_booking_api import a_business, next_monday
from tests.factories import create_account


async def test_a_deposit_holds_the_time_until_paid_and_comes_back_on_cancel(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    owner = made["owner"]
    h = owner.headers  # type: ignore[attr-defined]
    path = f"/api/v1/services/{made['service']}"
    for wrong in ({"amount": 13000, "currency": "EUR"}, {"amount": 100, "currency": "USD"}):
        refused = await client.patch(path, json={"deposit": wrong}, headers=h)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_deposit"
    asked = await client.patch(
        path, json={"deposit": {"amount": 3000, "currency": "EUR"}}, headers=h
    )
    assert asked.json()["deposit"] == {"amount": 3000, "currency": "EUR"}

    day = next_monday()
    slots_path = f"/api/v1/booking/glow-studio/availability?service_id={made['service']}&date={day}"
    slots = (await client.get(slots_path)).json()["slots"]
    customer = await create_account(client, platform, "deposit-bride@example.com")
    booked = await client.post(
        "/api/v1/appointments",
        json={"service_id": made["service"], "start": slots[0]["start"]},
        headers=customer.headers,
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    payment = appointment["payment"]
    assert appointment["status"] == "pending" and payment["amount"] == 3000
    assert payment["purpose"] == "deposit" and payment["redirect_url"].endswith(payment["id"])
    held = [s["start"] for s in (await client.get(slots_path)).json()["slots"]]
    assert slots[0]["start"] not in held  # the time is held while the deposit is due

    paid = await client.post(
        f"/api/v1/payments/{payment['id']}/test-outcome",
        json={"outcome": "succeed"},
        headers=customer.headers,
    )
    assert paid.json()["status"] == "succeeded"
    mine = await client.get(f"/api/v1/appointments/{appointment['id']}", headers=customer.headers)
    assert mine.json()["status"] == "confirmed" and mine.json()["payment_id"] == payment["id"]

    cancelled = await client.post(
        f"/api/v1/appointments/{appointment['id']}/cancel", json={}, headers=customer.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    back = await client.get(f"/api/v1/payments/{payment['id']}", headers=customer.headers)
    assert back.json()["status"] == "refunded" and back.json()["refunded_amount"] == 3000


async def test_an_unpaid_deposit_frees_the_time_and_a_late_payment_is_refunded(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    made = await a_business(client, platform)
    h = made["owner"].headers  # type: ignore[attr-defined]
    await client.patch(
        f"/api/v1/services/{made['service']}",
        json={"deposit": {"amount": 12000, "currency": "EUR"}},  # prepaid in full
        headers=h,
    )
    day = next_monday()
    slots_path = f"/api/v1/booking/glow-studio/availability?service_id={made['service']}&date={day}"
    first = (await client.get(slots_path)).json()["slots"][0]["start"]
    customer = await create_account(client, platform, "slow-payer@example.com")
    booked = await client.post(
        "/api/v1/appointments",
        json={"service_id": made["service"], "start": first},
        headers=customer.headers,
    )
    appointment, payment = booked.json(), booked.json()["payment"]
    assert await deposits.expire_unpaid(platform) == 0  # not yet due
    later = datetime.now(UTC) + timedelta(minutes=platform.settings.shop_payment_minutes + 1)
    assert await deposits.expire_unpaid(platform, later) == 1
    assert await deposits.expire_unpaid(platform, later) == 0  # once
    gone = await client.get(f"/api/v1/appointments/{appointment['id']}", headers=customer.headers)
    assert gone.json()["status"] == "cancelled"
    assert first in [s["start"] for s in (await client.get(slots_path)).json()["slots"]]
    late = await client.post(
        f"/api/v1/payments/{payment['id']}/test-outcome",
        json={"outcome": "succeed"},
        headers=customer.headers,
    )
    assert late.json()["status"] == "refunded" and late.json()["refunded_amount"] == 12000
