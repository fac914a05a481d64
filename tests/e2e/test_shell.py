"""The web shell in a real browser: keyboard, phone width, HTMX, toasts, errors, API docs."""

from __future__ import annotations

import pytest

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
    await page.get_by_role("link", name="Try requests out (Swagger UI)").click()
    await page.wait_for_url("**/docs/try")
    title = page.locator(".swagger-ui .info .title")
    await title.wait_for(timeout=15000)
    assert "Studioflow" in await title.inner_text()
    await page.locator(".opblock-summary-path", has_text="/health").first.wait_for()
    assert page.console_errors == [], page.console_errors
