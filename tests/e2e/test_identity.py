"""Sign up, read the code from the outbox, sign in, create an API key, switch client, sign out."""

from __future__ import annotations

import asyncio
import email
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


async def latest_mail(outbox: Path, to: str, subject: str) -> str:
    for _ in range(200):
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == to and subject in message["Subject"]:
                payload = message.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {to}")


async def test_sign_up_to_sign_out(page, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    address = "browser-user@example.com"
    await page.goto(live_server + "/signup")
    await page.get_by_label("Email").fill(address)
    await page.get_by_label("Password").fill("a browser passphrase 42")
    await page.get_by_label("First name").fill("Bea")
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(lambda url: "/verify?email=" in url)
    body = await latest_mail(live_data_dir / "outbox", address, "code")
    code = re.search(r"\b(\d{6})\b", body).group(1)  # type: ignore[union-attr]
    await page.get_by_label("Code").fill(code)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/login?**")
    await page.locator(".toast").filter(has_text="Email confirmed").wait_for()

    # The address carries over from sign-up.
    assert await page.get_by_label("Email or username").input_value() == address
    await page.get_by_label("Password").fill("a browser passphrase 42")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url("**/dashboard")
    await page.get_by_role("heading", name="Recent images").wait_for()
    await page.get_by_role("button", name="Account menu for Bea").click()
    await page.get_by_role("link", name="Account settings").click()
    await page.wait_for_url("**/account")
    assert await page.get_by_role("heading", name="Your account", exact=True).is_visible()

    # An API key, shown once, with a copy button.
    await page.get_by_label("Key name").fill("browser key")
    # No scope is ticked for you: a key without one is refused, with the reason.
    await page.get_by_role("button", name="Create key").click()
    await page.get_by_role("alert").filter(has_text="at least one scope").wait_for()
    await page.get_by_label("images:read").check()
    await page.get_by_label("images:write").check()
    await page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-value")
    await secret.wait_for()
    assert (await secret.inner_text()).startswith("sf_")
    assert await page.locator(".toast").count() == 1  # one action, one toast
    assert await page.get_by_role("button", name="Copy").is_visible()
    await page.get_by_role("link", name="Done, I copied it").click()
    await page.get_by_role("cell", name="browser key").wait_for()
    assert await page.get_by_role("cell", name="images: read, write").is_visible()
    # Sessions read as a device, not a User-Agent string.
    assert await page.get_by_text("Chrome on Linux").first.is_visible()

    # A workspace, then the workspace switcher.
    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="All workspaces")
        .click()
    )
    await page.get_by_label("Name").fill("Browser Team")
    await page.get_by_role("button", name="Create workspace").click()
    await page.get_by_role("cell", name="Browser Team").wait_for()
    # The switch reloads the page in the new workspace: wait for that page, not this one.
    async with page.expect_navigation():
        await page.get_by_role("combobox", name="Workspace").select_option(label="Browser Team")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Members").click()
    await page.get_by_role("heading", name="Members of Browser Team").wait_for()
    await nav.get_by_role("link", name="Activity").click()
    await page.get_by_text("Bea created the workspace Browser Team").wait_for()

    await page.get_by_role("button", name="Account menu for Bea").click()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/login")
    await page.goto(live_server + "/account")
    await page.wait_for_url(lambda url: url.endswith("/login?next=/account"))
    # The refused key above is the one failed request the browser reports.
    unexpected = [e for e in page.console_errors if "status of 422" not in e]
    assert unexpected == [], page.console_errors


async def test_phone_width_sign_in_page(phone, live_server: str) -> None:  # type: ignore[no-untyped-def]
    await phone.goto(live_server + "/login")
    assert await phone.get_by_label("Email or username").is_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    await phone.get_by_label("Email or username").fill("nobody@example.com")
    await phone.get_by_label("Password").fill("wrong password here")
    await phone.get_by_role("button", name="Sign in", exact=True).click()
    await phone.get_by_role("alert").filter(has_text="wrong").wait_for()


async def test_a_magic_link_asks_before_it_signs_in(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """The emailed link opens a page naming the account; only its button signs in."""
    address = "admin@example.com"  # the demo administrator of the live server
    await page.goto(live_server + "/login")
    await page.locator("#magic-email").fill(address)
    await page.locator("#magic-email").press("Enter")
    await page.locator(".toast").filter(has_text="sign-in link").wait_for()
    body = await latest_mail(live_data_dir / "outbox", address, "sign-in link")
    link = re.search(r"https?://\S+/auth/callback\?token=\S+", body).group(0)  # type: ignore[union-attr]
    await page.goto(live_server + link[link.index("/auth/callback") :])
    assert await page.get_by_text(f"signs you in as {address}").is_visible()
    assert "/auth/callback" in page.url  # opening the link signed nobody in
    await page.get_by_role("button", name=f"Sign in as {address}").click()
    await page.wait_for_url(lambda url: "/auth/callback" not in url and "/login" not in url)
    await page.goto(live_server + "/account")
    assert await page.get_by_role("heading", name="Your account", exact=True).is_visible()
    assert page.console_errors == [], page.console_errors
