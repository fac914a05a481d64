"""The signed-in shell in a real browser: every page fits at 1280 and 390 px, the sidebar
collapses and is a drawer on phones, the account menu, the product's confirm dialog, the
workspace settings (write-only provider keys), asking for credits and granting them, and an
invitee who signs up from the invitation link and ends a member."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_identity import latest_mail
from tests.e2e.test_images import sign_in_as_demo_admin

pytestmark = pytest.mark.e2e

SIGNED_IN_PAGES = [
    "/dashboard",
    "/studio",
    "/studio/executions",
    "/studio/requests",
    "/images",
    "/albums",
    "/credits",
    "/settings",
    "/notifications",
    "/clients",
    "/account",
    "/admin/studio",
    "/admin/credits",
    "/admin/jobs",
    "/admin/users",
    "/admin/clients",
    "/admin/settings",
    "/admin/tickets",
    "/admin/plans",
    "/admin/errors",
    "/admin",
    "/admin/finances",
    "/admin/finances?group_by=client",
    "/support",
    "/booking",
    "/booking/services",
    "/booking/staff",
    "/booking/calendar",
    "/booking/calendar?view=week",
    "/booking/appointments",
    "/appointments",
    "/shop",
    "/cart",
    "/orders",
    "/wallet",
    "/seller",
    "/admin/sellers",
    "/admin/credit-packs",
]
PUBLIC_PAGES = [
    "/",
    "/login",
    "/signup",
    "/forgot-password",
    "/verify",
    "/invitations/accept",
    "/design",
    "/docs",
    "/shop",
]


async def fits(page) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return tuple(await page.evaluate("[document.documentElement.scrollWidth, innerWidth]"))  # type: ignore[return-value]


async def workspace_pages(page, live_server: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The pages of one object each: the active workspace's members and activity, an image's
    page, an album, a workflow and a run (one is started when there is none yet)."""
    await page.goto(live_server + "/clients")
    links = await page.locator("a[href^='/clients/']").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    await page.goto(live_server + "/images")
    images = await page.locator("[data-gallery] a").evaluate_all(
        "els => els.slice(0, 1).map(e => e.getAttribute('href'))"
    )
    made = await page.evaluate(
        "async () => (await window.studioflow.api('POST', '/api/v1/albums', {title: 'Width check'})).data"
    )
    await page.goto(live_server + "/studio")
    workflow = await page.get_by_role("link", name="Open").first.get_attribute("href")
    await page.goto(live_server + "/studio/executions")
    runs = await page.locator("a[href^='/studio/executions/']").evaluate_all(
        "els => els.slice(0, 1).map(e => e.getAttribute('href'))"
    )
    if not runs:
        # The run's credit is given back first (the admin grants its own workspace a few):
        # other tests of this server count on the workspace's credits.
        started = await page.evaluate(
            """async (path) => {
                 const me = (await window.studioflow.api('GET', '/api/v1/auth/me')).data;
                 await window.studioflow.api('POST',
                   '/api/v1/admin/clients/' + me.active_client_id + '/credits',
                   {amount: 2, reference: 'width check'});
                 return (await window.studioflow.api('POST',
                   '/api/v1/workflows/' + path.split('/').pop() + '/execute',
                   {prompts: ['a run for the width check']})).data;
               }""",
            workflow,
        )
        runs = [f"/studio/executions/{started['execution_id']}"]
    await page.goto(live_server + "/admin/users")
    people = await page.locator("a[href^='/admin/users/']").evaluate_all(
        "els => els.slice(0, 1).map(e => e.getAttribute('href'))"
    )
    await page.goto(live_server + "/admin/clients")
    people += await page.locator("a[href^='/admin/clients/']").evaluate_all(
        "els => els.slice(0, 1).map(e => e.getAttribute('href'))"
    )
    opened = await page.evaluate(
        """async () => (await window.studioflow.api('POST', '/api/v1/support-tickets',
             {subject: 'Width check', body: 'A ticket for the page walk.'})).data"""
    )
    people += [f"/support/{opened['id']}", f"/admin/tickets/{opened['id']}"]
    people += await booking_pages(page)
    return (
        sorted(set(links))[:2] + images + [f"/images?album={made['id']}", workflow, *runs] + people
    )


BUSINESS = """async () => {
  const api = window.studioflow.api;
  const me = (await api('GET', '/api/v1/account')).data;
  await api('PUT', '/api/v1/booking/profile', {slug: 'e2e-salon', name: 'E2E Salon',
    timezone: 'Europe/Berlin', currency: 'EUR', cancellation_notice_hours: 1});
  let staff = (await api('POST', '/api/v1/booking/staff', {user_id: me.id, display_name: 'Rae'})).data;
  if (!staff.id) staff = (await api('GET', '/api/v1/booking/staff')).data[0];
  let service = (await api('GET', '/api/v1/services')).data.find(s => s.name === 'Lash lift');
  if (!service) service = (await api('POST', '/api/v1/services', {name: 'Lash lift',
    price: {amount: 4500, currency: 'EUR'}, duration_minutes: 45, staff_ids: [staff.id]})).data;
  const days = [0, 1, 2, 3, 4, 5, 6].map(d => ({weekday: d, start: '00:00', end: '24:00'}));
  await api('PUT', '/api/v1/booking/staff/' + staff.id + '/hours', days);
  return {service: service.id, staff: staff.id};
}"""


async def booking_pages(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The public booking page with its times, and one appointment's page."""
    made = await page.evaluate(BUSINESS)
    booked = await page.evaluate(
        """async (service) => {
             const api = window.studioflow.api;
             const day = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
             const free = (await api('GET', '/api/v1/booking/e2e-salon/availability?service_id='
               + service + '&date=' + day)).data.slots;
             return (await api('POST', '/api/v1/appointments',
               {service_id: service, start: free[free.length - 1].start})).data;
           }""",
        made["service"],
    )
    return [f"/book/e2e-salon?service_id={made['service']}", f"/appointments/{booked['id']}"]


@pytest.mark.parametrize("width", [1280, 390])
async def test_no_page_scrolls_sideways(
    browser, live_server: str, live_data_dir: Path, width: int
) -> None:  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    try:
        for path in PUBLIC_PAGES:
            response = await page.goto(live_server + path)
            assert response.status == 200, path
            scroll, inner = await fits(page)
            assert scroll <= inner, f"{path} at {width}px: {scroll} > {inner}"
        await sign_in_as_demo_admin(page, live_server, live_data_dir)
        for path in SIGNED_IN_PAGES + await workspace_pages(page, live_server):
            response = await page.goto(live_server + path)
            assert response.status == 200, path
            scroll, inner = await fits(page)
            assert scroll <= inner, f"{path} at {width}px: {scroll} > {inner}"
            # The shell: the account menu's trigger is on screen, never clipped or wrapped.
            box = await page.locator("[data-menu-button]").bounding_box()
            assert box is not None and box["x"] + box["width"] <= inner, path
    finally:
        await context.close()


async def test_the_sidebar_collapses_and_is_remembered(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/dashboard")
    sidebar = page.get_by_role("navigation", name="Main")
    toggle = page.locator("[data-sidebar-toggle]")
    assert await sidebar.is_visible()
    assert await toggle.get_attribute("aria-expanded") == "true"
    current = sidebar.locator("a[aria-current='page']")
    assert await current.inner_text() == "Dashboard"
    await toggle.click()
    await expect(sidebar).to_be_hidden()
    assert await toggle.get_attribute("aria-expanded") == "false"
    await page.goto(live_server + "/images")
    await expect(sidebar).to_be_hidden()  # remembered across pages
    await toggle.click()
    await expect(sidebar).to_be_visible()
    assert await sidebar.locator("a[aria-current='page']").inner_text() == "Images"
    assert page.console_errors == [], page.console_errors


async def test_the_drawer_on_a_phone(phone, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(phone, live_server, live_data_dir)
    await phone.goto(live_server + "/dashboard")
    toggle = phone.get_by_role("button", name="Menu", exact=True)
    link = phone.get_by_role("navigation", name="Main").get_by_role("link", name="Albums")
    assert await toggle.get_attribute("aria-expanded") == "false"
    assert not await link.is_visible()
    await toggle.click()
    await expect(link).to_be_visible()
    assert await toggle.get_attribute("aria-expanded") == "true"
    focused = await phone.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Dashboard"  # focus moved into the drawer, on the current page
    await phone.keyboard.press("Escape")
    await expect(link).to_be_hidden()
    assert await phone.evaluate("document.activeElement.getAttribute('aria-controls')") == "sidebar"
    await toggle.click()
    await phone.get_by_role("button", name="Close menu").click()  # for touch, inside the drawer
    await expect(link).to_be_hidden()
    await toggle.click()
    await link.click()
    await phone.wait_for_url("**/albums")
    assert await toggle.get_attribute("aria-expanded") == "false"


async def test_settings_keys_are_write_only_and_removal_asks_first(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/settings")
    key = "AIzaSy-browser-test-key-7Q2x"
    await page.get_by_label("API key").first.fill(key)
    await page.get_by_role("button", name="Save key").first.click()
    state = page.locator("[data-key-state='gemini']")
    await expect(state).to_contain_text("…7Q2x")
    assert key not in await page.content()  # write-only: the page never holds it
    # The studio's "set a key" link leads here.
    await page.goto(live_server + "/studio")
    # Removal asks in the product's own dialog; Cancel keeps the key.
    await page.goto(live_server + "/settings")
    await page.get_by_role("button", name="Remove key").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    assert "Remove the Google Gemini key?" in await dialog.inner_text()
    assert await page.evaluate("document.activeElement.textContent") == "Cancel"
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(state).to_contain_text("…7Q2x")
    await page.get_by_role("button", name="Remove key").click()
    await dialog.get_by_role("button", name="Remove key").click()
    await expect(page.locator("[data-key-state='gemini']")).to_contain_text("not set")
    assert page.console_errors == [], page.console_errors


async def test_ask_for_credits_and_an_admin_grants_them(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/credits")
    # Other tests of this server leave in-app notifications (bookings); the bell counts
    # those too, so they are read first.
    await page.evaluate("window.studioflow.api('POST', '/api/v1/notifications/read-all')")
    before = int(await page.locator("[data-balance]").inner_text())
    await page.get_by_role("spinbutton", name="Credits").fill("25")
    await page.get_by_label("What they are for").fill("Browser test shots")
    await page.get_by_role("button", name="Ask the platform admins").click()
    await page.get_by_text("have not answered yet").wait_for()
    # The bell counts it for the admins, and leads to the console.
    badge = page.locator(".count-badge")
    assert await badge.inner_text() == "1"
    await page.get_by_role("link", name=re.compile("Notifications")).click()
    await page.get_by_role("link", name="Answer").click()
    await page.wait_for_url("**/admin/credits")
    card = page.locator(".card").filter(has_text="asks for 25 credits")
    await card.get_by_label("Credits to grant").fill("20")
    await card.get_by_role("button", name="Grant").click()
    await page.get_by_text("No open requests").wait_for()
    await page.goto(live_server + "/credits")
    assert int(await page.locator("[data-balance]").inner_text()) == before + 20
    assert await page.get_by_text("granted 20").is_visible()
    assert page.console_errors == [], page.console_errors


async def test_an_invitee_signs_up_from_the_link_and_is_a_member(
    browser, page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/clients")
    await page.get_by_label("Name").fill("Harbor Creative")
    await page.get_by_role("button", name="Create workspace").click()
    await page.get_by_role("cell", name="Harbor Creative").wait_for()
    # The switch reloads the page in the new workspace: wait for that page, not this one.
    async with page.expect_navigation():
        await page.get_by_role("combobox", name="Workspace").select_option(label="Harbor Creative")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    await page.get_by_label("Email").fill("leo@example.com")
    await page.get_by_role("button", name="Send invitation").click()
    await page.get_by_text("leo@example.com as collaborator").wait_for()

    body = await latest_mail(live_data_dir / "outbox", "leo@example.com", "Join Harbor Creative")
    link = re.search(r"https?://\S+/invitations/accept\?token=\S+", body).group(0)  # type: ignore[union-attr]
    invitee = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    await invitee.goto(live_server + link[link.index("/invitations/") :])
    await invitee.get_by_role("link", name="Create an account").click()
    await invitee.get_by_label("Email").fill("leo@example.com")
    await invitee.get_by_label("Password").fill("a harbor passphrase 42")
    await invitee.get_by_label("First name").fill("Leo")
    await invitee.get_by_role("button", name="Sign up").click()
    await invitee.wait_for_url("**/verify?**")
    mail = await latest_mail(live_data_dir / "outbox", "leo@example.com", "code")
    await invitee.get_by_label("Code").fill(re.search(r"\b(\d{6})\b", mail).group(1))  # type: ignore[union-attr]
    await invitee.get_by_role("button", name="Confirm").click()
    await invitee.wait_for_url("**/login?**")
    await invitee.get_by_label("Password").fill("a harbor passphrase 42")
    await invitee.get_by_role("button", name="Sign in", exact=True).click()
    # Back on the invitation, accepted by itself, and on to the dashboard: a member.
    await invitee.wait_for_url("**/dashboard")
    await invitee.locator(".toast").filter(has_text="You joined the workspace").wait_for()
    options = (
        await invitee.get_by_role("combobox", name="Workspace").locator("option").all_inner_texts()
    )
    assert "Harbor Creative" in options

    # The owner's activity reads as sentences.
    await page.goto(live_server + "/clients")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Activity").click()
    await page.get_by_text("Leo joined Harbor Creative").wait_for()
    await invitee.context.close()


AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Every page is Studioflow's own: /docs is our reference (Swagger UI is gone) and the
# queues are /admin/jobs (SAQ's monitor is no longer mounted).


async def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's critical and serious findings on the page as it stands (WCAG 2.1 A/AA)."""
    await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = await page.evaluate(
        """async () => {
          const result = await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
          return result.violations
            .filter(v => v.impact === "critical" || v.impact === "serious")
            .map(v => v.id + ": " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }"""
    )
    return list(found)


@pytest.mark.skipif(
    not AXE.exists(), reason="axe-core is installed by .ci/run (npm ci in tests/e2e/axe)"
)
async def test_no_serious_accessibility_violation_on_any_page(
    browser, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    problems: dict[str, list[str]] = {}
    for width in (1280, 390):
        # The test injects axe-core itself: the pages' CSP is for the product, not for it.
        context = await browser.new_context(
            viewport={"width": width, "height": 800}, bypass_csp=True
        )
        page = await context.new_page()
        try:
            for path in PUBLIC_PAGES:
                await page.goto(live_server + path)
                if found := await serious_violations(page):
                    problems[f"{path}@{width}"] = found
            await sign_in_as_demo_admin(page, live_server, live_data_dir)
            for path in SIGNED_IN_PAGES + await workspace_pages(page, live_server):
                await page.goto(live_server + path)
                if found := await serious_violations(page):
                    problems[f"{path}@{width}"] = found
        finally:
            await context.close()
    assert problems == {}, problems
