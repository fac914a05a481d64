"""The web shell in a real browser: keyboard, phone width, HTMX, toasts, errors, API docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.e2e


async def test_home_page_is_clean_and_keyboard_reachable(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(live_server + "/")
    assert await page.title() == "Home · Studioflow"
    # A product page: what it does and the way in, not the API or /metrics.
    assert await page.get_by_role("heading", name="Generate in batches").is_visible()
    assert await page.get_by_role("link", name="/metrics").count() == 0
    await page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert await skip.evaluate("el => el === document.activeElement")
    assert await skip.is_visible()
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # Navigation by keyboard: tab to "Sign in" and follow it.
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/login")
    assert page.console_errors == [], page.console_errors


async def test_phone_width_home(phone, live_server: str) -> None:  # type: ignore[no-untyped-def]
    await phone.goto(live_server + "/")
    nav = phone.get_by_role("navigation", name="Main")
    assert await nav.get_by_role("link", name="Sign in").is_visible()
    assert await nav.get_by_role("link", name="Sign up").is_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


async def test_htmx_form_swaps_and_server_toast(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(live_server + "/design")
    await page.get_by_label("Project name").fill("Spring campaign")
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Last saved just now.").wait_for()
    toast = page.locator(".toast").filter(has_text="This toast came from the server")
    await toast.wait_for()
    await toast.get_by_role("button", name="Dismiss").click()
    await toast.wait_for(state="detached")
    # A page-side toast, raised from the keyboard.
    await page.get_by_role("button", name="Show an error toast").focus()
    await page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "did not work" in await alert.inner_text()
    assert page.console_errors == [], page.console_errors


async def test_not_found_page(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    response = await page.goto(live_server + "/no/such/page")
    assert response.status == 404
    assert await page.get_by_role("heading", name="Page not found").is_visible()
    await page.get_by_role("link", name="Go to the home page").click()
    await page.wait_for_url(live_server + "/")


async def test_api_docs_render_offline(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(live_server + "/docs")
    # Our reference: every operation, opened by keyboard.
    health = page.locator("details#get-health > summary")
    await health.focus()
    await page.keyboard.press("Enter")
    assert await page.locator("details#get-health").get_attribute("open") is not None
    # Tried from the page: the answer shows with its status.
    health_form = page.get_by_role("form", name="Try GET /health")
    await health_form.get_by_role("button", name="Send GET").click()
    answer = health_form.locator("[data-try-answer]")
    await expect(answer.locator("[data-try-status]")).to_have_text(re.compile(r"^200"))
    assert '"status": "ok"' in await answer.locator("[data-try-body]").inner_text()
    # A body that is not JSON is not sent.
    await page.locator("details#post-api-v1-albums > summary").click()
    albums = page.get_by_role("form", name="Try POST /api/v1/albums")
    await albums.get_by_label("JSON body").fill('{"title": ')
    await albums.get_by_role("button", name="Send POST").click()
    await expect(albums.locator("[data-try-status]")).to_have_text("Not sent")
    # Signed out, the API says so in its own words.
    await albums.get_by_label("JSON body").fill('{"title": "From the docs"}')
    await albums.get_by_role("button", name="Send POST").click()
    await expect(albums.locator("[data-try-status]")).to_have_text(re.compile(r"^401"))
    assert "not_authenticated" in await albums.locator("[data-try-body]").inner_text()
    # Chromium logs that 401 as a failed resource: the one error this test asked for.
    assert [e for e in page.console_errors if "status of 401" not in e] == []
    assert len(page.console_errors) == 1, page.console_errors


async def test_try_a_request_from_the_docs_signed_in(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.test_images import sign_in_as_demo_admin

    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/docs#post-api-v1-albums")
    await page.locator("details#post-api-v1-albums > summary").click()
    albums = page.get_by_role("form", name="Try POST /api/v1/albums")
    await albums.get_by_label("JSON body").fill('{"title": "Made from the docs"}')
    await albums.get_by_role("button", name="Send POST").click()
    await expect(albums.locator("[data-try-status]")).to_have_text(re.compile(r"^201"))
    made = await albums.locator("[data-try-body]").inner_text()
    assert '"title": "Made from the docs"' in made
    album_id = made.split('"id": "', 1)[1].split('"', 1)[0]
    # A path parameter, filled in by keyboard.
    await page.locator("details#patch-api-v1-albums-album-id > summary").click()
    rename = page.get_by_role("form", name="Try PATCH /api/v1/albums/{album_id}")
    await rename.get_by_label("album_id").fill(album_id)
    await rename.get_by_label("JSON body").fill('{"title": "Renamed from the docs"}')
    await rename.get_by_label("JSON body").press("Tab")
    await page.keyboard.press("Enter")
    await expect(rename.locator("[data-try-status]")).to_have_text(re.compile(r"^200"))
    await page.goto(live_server + "/albums")
    await page.get_by_role("link", name="Renamed from the docs").wait_for()
    assert page.console_errors == [], page.console_errors
