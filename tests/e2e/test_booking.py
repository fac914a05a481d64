"""Booking in the browser (issue 16): a business set up by its owner; on a phone, a new
customer opens its page, signs up on the way, books a time, and then cancels the booking
from the link in the confirmation email, without signing in again."""

from __future__ import annotations

import email
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_app_shell import BUSINESS
from tests.e2e.test_identity import latest_mail
from tests.e2e.test_images import sign_in_as_demo_admin

pytestmark = pytest.mark.e2e


async def latest_mail_text(outbox: Path, to: str, subject: str) -> str:
    """The text part of the newest message (the booking mails are multipart)."""
    await latest_mail_seen(outbox, to, subject)
    for path in sorted(outbox.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == to and subject in message["Subject"]:
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    return payload.decode()
    raise AssertionError("no text part")


async def latest_mail_seen(outbox: Path, to: str, subject: str) -> None:
    import asyncio

    for _ in range(200):
        for path in outbox.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == to and subject in (message["Subject"] or ""):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {to} about {subject}")


async def test_book_on_a_phone_then_cancel_from_the_email(  # type: ignore[no-untyped-def]
    page, phone, live_server: str, live_data_dir: Path
) -> None:
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    made = await page.evaluate(BUSINESS)
    assert made["service"]
    # The owner sees it on the business pages.
    await page.goto(live_server + "/booking/services")
    await page.get_by_role("row", name=re.compile("Lash lift")).wait_for()

    address = "phone-booker@example.com"
    await phone.goto(live_server + "/book/e2e-salon")
    await phone.get_by_role("link", name="Lash lift").click()
    await phone.get_by_role("heading", name="2. Who and when: Lash lift").wait_for()
    # The day after tomorrow (the third day chip): a whole free day, and its first time is a
    # day away whatever the hour (tomorrow's 00:00 in Berlin is under an hour away at 22:10
    # UTC, inside the salon's cancellation notice, so the link could not cancel it).
    await phone.get_by_role("navigation", name="Nearby days").get_by_role("link").nth(2).click()
    await phone.locator("[data-first-slot]").wait_for(state="attached")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the booking page scrolls sideways on a phone ({width}px)"
    await phone.get_by_role("link", name="Create an account").click()
    await phone.get_by_label("Email").fill(address)
    await phone.get_by_label("Password").fill("a booking passphrase 42")
    await phone.get_by_label("First name").fill("Pia")
    await phone.get_by_role("button", name="Sign up").click()
    await phone.wait_for_url(lambda url: "/verify?email=" in url)
    body = await latest_mail(live_data_dir / "outbox", address, "code")
    code = re.search(r"\b(\d{6})\b", body).group(1)  # type: ignore[union-attr]
    await phone.get_by_label("Code").fill(code)
    await phone.keyboard.press("Enter")
    await phone.wait_for_url("**/login?**")
    await phone.get_by_label("Password").fill("a booking passphrase 42")
    await phone.get_by_role("button", name="Sign in", exact=True).click()
    # Back on the booking page, where the sign-up started.
    await phone.wait_for_url("**/book/e2e-salon?**")
    first = phone.locator(".slots label").first
    when = (await first.inner_text()).strip()
    await first.click()
    await phone.get_by_label("Notes for the artist (optional)").fill("First time")
    await phone.get_by_role("button", name="Book Lash lift").click()
    await phone.wait_for_url("**/appointments")
    mine = phone.locator("[data-appointments] li").first
    await expect(mine).to_contain_text("Lash lift")
    await expect(mine).to_contain_text(when)
    await expect(mine).to_contain_text("confirmed")

    # The confirmation's link cancels it, signed out, on the phone.
    text = await latest_mail_text(live_data_dir / "outbox", address, "Booked: Lash lift")
    link = re.search(r"(http://\S+/appointments/\S+/manage\?token=[\w-]+)", text)
    assert link, text
    await phone.context.clear_cookies()
    await phone.goto(link.group(1))
    await phone.get_by_role("heading", name="Your appointment").wait_for()
    await phone.get_by_label("Reason (optional)").fill("Plans changed")
    await phone.get_by_role("button", name="Cancel the appointment").click()
    await phone.wait_for_url("**/manage/done")
    await phone.get_by_role("heading", name="Done").wait_for()
    # Spent: the same link now says so.
    response = await phone.goto(link.group(1))
    assert response is not None and response.status == 404
    await latest_mail_seen(live_data_dir / "outbox", address, "Cancelled: Lash lift")
