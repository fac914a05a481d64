"""The shop in the browser (issue 17): a seller's product set up by the demo admin; on a
phone, a new user signs up, finds it in the shop, picks a shade, checks out and pays on the
TEST MODE page, and sees the order paid; then buys a credit pack for the workspace and runs
a batch with the credits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_identity import latest_mail
from tests.e2e.test_images import sign_in_as_demo_admin

pytestmark = pytest.mark.e2e

SHOP = """async () => {
  const api = window.studioflow.api;
  const me = (await api('GET', '/api/v1/auth/me')).data;
  await api('POST', '/api/v1/seller/apply', {display_name: 'E2E Beauty', slug: 'e2e-beauty'});
  await api('POST', '/api/v1/admin/sellers/' + me.active_client_id + '/approve');
  const listed = (await api('GET', '/api/v1/seller/products')).data.items;
  if (!listed.find(p => p.slug === 'e2e-rouge')) {
    await api('POST', '/api/v1/seller/products', {title: 'E2E Rouge', slug: 'e2e-rouge',
      description: 'A satin lipstick.', price: {amount: 1800, currency: 'EUR'}, status: 'active',
      category: 'lips', attributes: {finish: 'satin'},
      variants: [{name: 'Coral', price: {amount: 1800, currency: 'EUR'}, stock: 5,
                  attributes: {shade_hex: '#ff7f50'}},
                 {name: 'Berry', price: {amount: 1900, currency: 'EUR'}, stock: 5,
                  attributes: {shade_hex: '#8e4585'}}]});
  }
  const packs = (await api('GET', '/api/v1/admin/credit-packs')).data;
  if (!packs.find(p => p.name === 'E2E pack')) {
    await api('POST', '/api/v1/admin/credit-packs',
      {name: 'E2E pack', credits: 25, price: {amount: 500, currency: 'EUR'}});
  }
  return me.active_client_id;
}"""


async def sign_up(page, live_server: str, live_data_dir: Path, address: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(live_server + "/signup")
    await page.get_by_label("Email").fill(address)
    await page.get_by_label("Password").fill("a shopping passphrase 42")
    await page.get_by_label("First name").fill("Sol")
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(lambda url: "/verify?email=" in url)
    body = await latest_mail(live_data_dir / "outbox", address, "code")
    code = re.search(r"\b(\d{6})\b", body).group(1)  # type: ignore[union-attr]
    await page.get_by_label("Code").fill(code)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/login?**")
    await page.get_by_label("Password").fill("a shopping passphrase 42")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url("**/dashboard")


async def test_buy_a_product_on_a_phone_through_the_test_payment_page(  # type: ignore[no-untyped-def]
    page, phone, live_server: str, live_data_dir: Path
) -> None:
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/seller")
    await page.evaluate(SHOP)
    await page.goto(live_server + "/admin/sellers")
    await page.get_by_text("E2E Beauty").wait_for()

    await sign_up(phone, live_server, live_data_dir, "phone-shopper@example.com")
    await phone.goto(live_server + "/shop")
    await phone.get_by_label("Search", exact=True).fill("rouge")
    await phone.keyboard.press("Enter")
    await phone.get_by_role("link", name="E2E Rouge").click()
    await phone.wait_for_url("**/shop/e2e-rouge")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the product page scrolls sideways on a phone ({width}px)"
    await phone.get_by_label(re.compile("Berry")).check()
    await phone.get_by_role("button", name="Add to cart").click()
    await phone.wait_for_url("**/cart")
    await expect(phone.locator("[data-subtotal]")).to_have_text("19.00 EUR")
    await phone.get_by_label("Name", exact=True).fill("Sol Shopper")
    await phone.get_by_label("Address", exact=True).fill("2 Market Lane")
    await phone.get_by_label("City").fill("Hamburg")
    await phone.get_by_label("Postal code").fill("20095")
    # Someone else has the product open: its stock changes there live, without a reload.
    await page.goto(live_server + "/shop/e2e-rouge")
    stock = page.locator("[data-stock]")
    before = int(await stock.inner_text())
    await phone.get_by_role("button", name="Place order and pay").click()
    await phone.wait_for_url("**/pay/*")
    await expect(stock).to_have_text(str(before - 1))
    await phone.get_by_text("TEST MODE").wait_for()
    await expect(phone.locator("[data-payment-status]")).to_have_text("requires payment")
    # A 3-D Secure style step first, then completed.
    await phone.get_by_role("button", name="Pay with 3-D Secure").click()
    await phone.get_by_role("button", name="Complete authentication").click()
    await expect(phone.locator("[data-payment-status]")).to_have_text("succeeded")
    await phone.get_by_role("link", name="See your orders").click()
    await phone.wait_for_url("**/orders")
    first = phone.locator("[data-orders] li").first
    await expect(first).to_contain_text("19.00 EUR")
    await expect(first.locator("[data-order-status]")).to_have_text("paid")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the orders page scrolls sideways on a phone ({width}px)"

    # The seller sees it to fulfil, with the earnings after the commission.
    await page.goto(live_server + "/seller")
    await expect(page.locator("[data-seller-orders] li").first).to_contain_text("E2E Rouge")
    await page.get_by_label("Tracking number").first.fill("E2E-TRACK")
    await page.get_by_role("button", name="Mark sent").first.click()
    await page.locator(".toast").filter(has_text="Marked sent.").wait_for()
    assert page.console_errors == [], page.console_errors


async def test_buy_a_credit_pack_and_run_a_batch_with_it(  # type: ignore[no-untyped-def]
    page, browser, live_server: str, live_data_dir: Path
) -> None:
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/seller")
    await page.evaluate(SHOP)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    buyer = await context.new_page()
    try:
        await sign_up(buyer, live_server, live_data_dir, "pack-buyer@example.com")
        await buyer.goto(live_server + "/credits")
        before = int(await buyer.locator("[data-balance]").inner_text())
        pack = buyer.locator("[data-packs] li").filter(has_text="E2E pack")
        await pack.get_by_role("button", name="Buy by card").click()
        await buyer.wait_for_url("**/pay/*")
        await buyer.get_by_role("button", name=re.compile(r"^Pay 5\.00 EUR")).click()
        await expect(buyer.locator("[data-payment-status]")).to_have_text("succeeded")
        await buyer.get_by_role("link", name="See your credits").click()
        await buyer.wait_for_url("**/credits")
        await expect(buyer.locator("[data-balance]")).to_have_text(str(before + 25))
        # Spend them: a batch of three in the studio.
        await buyer.goto(live_server + "/studio")
        await buyer.get_by_role("link", name="Open").first.click()
        await buyer.wait_for_url("**/studio/workflows/*")
        await buyer.get_by_label("Prompts").fill("a rose\na tulip\na lily")
        await buyer.get_by_role("button", name="Run batch").click()
        await buyer.wait_for_url("**/studio/executions/*")
        await expect(buyer.locator("[data-status]")).to_have_text("completed", timeout=60_000)
        await buyer.goto(live_server + "/credits")
        spent = int(await buyer.locator("[data-balance]").inner_text())
        assert spent < before + 25, "the batch was charged to the bought credits"
    finally:
        await context.close()


async def test_a_deposit_is_asked_at_booking_and_paid_on_the_test_page(  # type: ignore[no-untyped-def]
    page, live_server: str, live_data_dir: Path
) -> None:
    from tests.e2e.test_app_shell import BUSINESS

    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/booking/services")
    await page.evaluate(BUSINESS)
    await page.goto(live_server + "/booking/services")
    await page.get_by_label("Name", exact=True).fill("Deposit facial")
    await page.get_by_label("Price (minor units, e.g. cents)").fill("5000")
    await page.get_by_label("Deposit at booking (minor units; empty: none)").fill("1500")
    await page.get_by_role("button", name="Add service").click()
    row = page.get_by_role("row", name=re.compile("Deposit facial"))
    await expect(row).to_contain_text("15.00 deposit")

    await page.goto(live_server + "/book/e2e-salon")
    await page.get_by_role("link", name="Deposit facial").click()
    await page.get_by_role("navigation", name="Nearby days").get_by_role("link").nth(2).click()
    await page.locator(".slots label").first.click()
    await page.get_by_role("button", name="Book Deposit facial").click()
    await page.wait_for_url("**/pay/*")
    await page.get_by_role("heading", name="Pay 15.00 EUR").wait_for()
    await page.get_by_role("button", name=re.compile(r"^Pay 15\.00 EUR")).click()
    await expect(page.locator("[data-payment-status]")).to_have_text("succeeded")
    await page.get_by_role("link", name="See your appointments").click()
    await page.wait_for_url("**/appointments")
    first = page.locator("[data-appointments] li").filter(has_text="Deposit facial").first
    await expect(first).to_contain_text("confirmed")
