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


async def test_a_cancel_shows_the_apis_counts(page, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Cancel mid-batch: the page follows until every item has its final state and then
    says what the API says (items, counts, refunds); nothing to download, no Cancel left."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/studio")
    # Credits for five (the admin grants them to their own workspace, as the page would).
    granted = await page.evaluate(
        """async () => {
          const id = document.querySelector("#client-switch").value;
          const r = await window.studioflow.api("POST", `/api/v1/admin/clients/${id}/credits`,
            {amount: 10, reason: "admin_grant"});
          return r.status; }"""
    )
    assert granted == 200
    await page.get_by_role("link", name="Open").first.click()
    # The form's script must be running before the click (under load a click on a page
    # still loading submitted the bare form and reloaded it).
    await page.wait_for_url("**/studio/workflows/*")
    await page.wait_for_load_state("load")
    await page.get_by_label("Prompts").fill("\n".join(f"cancel me {n}" for n in range(5)))
    await page.get_by_role("button", name="Run batch").click()
    await page.wait_for_url("**/studio/executions/*")
    execution_id = page.url.rstrip("/").rsplit("/", 1)[1]
    await expect(page.locator("[data-status]")).to_have_text("processing", timeout=10_000)
    await page.get_by_role("button", name="Cancel", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="Stop the run").click()
    await expect(page.locator("[data-status]")).to_have_text("cancelled", timeout=20_000)
    api = await page.request.get(f"{live_server}/api/v1/executions/{execution_id}")
    # Wait for the last item to settle in the API too, then compare with the page.
    for _ in range(100):
        answer = await api.json()
        body = {**answer["progress"], "credits_refunded": answer["credits_refunded"]}
        if body["completed"] + body["failed"] + body["cancelled"] == body["total"]:
            break
        await page.wait_for_timeout(100)
        api = await page.request.get(f"{live_server}/api/v1/executions/{execution_id}")
    counts = page.locator("[data-counts]")
    expected = (
        f"{body['completed']} done · {body['failed']} failed · "
        f"{body['cancelled']} cancelled · {body['total']} in all"
    )
    await expect(counts).to_have_text(expected, timeout=20_000)
    assert body["cancelled"] > 0
    await expect(page.locator("[data-item-status]", has_text="processing")).to_have_count(0)
    await expect(page.locator("[data-item-status]", has_text="pending")).to_have_count(0)
    await expect(page.locator("[data-cancel]")).to_be_hidden()
    await page.reload()
    await expect(counts).to_have_text(expected)
    await expect(page.locator("[data-refunded]")).to_have_text(str(body["credits_refunded"]))
    assert await page.get_by_role("link", name="Download ZIP").is_visible() == (
        body["completed"] > 0
    )
    assert page.console_errors == [], page.console_errors
