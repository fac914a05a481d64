"""Run a 3-prompt batch on the placeholder provider in the browser and watch it complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_images import sign_in_as_demo_admin

pytestmark = pytest.mark.e2e


async def test_run_a_batch_and_watch_it_complete(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Studio", exact=True)
        .click()
    )
    await page.wait_for_url("**/studio")
    await page.get_by_role("link", name="Open").first.click()
    await page.wait_for_url("**/studio/workflows/*")
    assert await page.get_by_text("placeholder", exact=False).first.is_visible()
    prompts = page.get_by_label("Prompts")
    await prompts.fill("a red bicycle\n# a comment line\na lighthouse at night\na bowl of ramen")
    await page.get_by_text("3 prompts · 3 credits").wait_for()
    await page.get_by_label("Aspect ratio").select_option("16:9")
    # Keyboard only from here: tab to the button and press Enter.
    await page.get_by_role("button", name="Run batch").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/studio/executions/*")
    status = page.locator("[data-status]")
    await expect(status).to_have_text("processing", timeout=10_000)  # live, from the events
    await expect(status).to_have_text("completed", timeout=60_000)
    await page.locator(".toast").filter(has_text="Execution completed.").wait_for()
    images = page.locator("[data-results] img")
    await images.nth(2).wait_for()
    assert await images.count() == 3
    # Loaded, not merely present: a broken image never gets a width (and times out here);
    # under load the first may still be on its way when the third appears.
    await page.wait_for_function(
        "() => [...document.querySelectorAll('[data-results] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=15_000,
    )
    assert await page.get_by_role("link", name="Download ZIP").is_visible()
    assert await page.locator("progress[data-progress]").evaluate("p => p.value === p.max")
    # The history lists it; the credits page shows the charge.
    await page.goto(live_server + "/studio/executions?status=completed")
    assert await page.get_by_role("link", name="Details").count() >= 1
    await page.goto(live_server + "/credits")
    assert await page.get_by_role("cell", name="execution").first.is_visible()
    assert page.console_errors == [], page.console_errors


async def test_studio_on_a_phone(phone, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(phone, live_server, live_data_dir)
    await phone.goto(live_server + "/studio")
    await phone.get_by_role("link", name="Open").first.click()
    await phone.get_by_label("Prompts").wait_for()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    await phone.goto(live_server + "/studio/requests")
    await phone.get_by_label("What do you need?").fill("Product shots")
    await phone.get_by_label("Describe it").fill("White background packshots of our shoes.")
    await phone.get_by_role("button", name="Send request").click()
    await phone.get_by_text("pending").wait_for()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
