"""The platform admins' console in a real browser: find an account, invite one, block and
unblock it from its page (the product's confirm dialog), by keyboard where it matters."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.test_identity import latest_mail
from tests.e2e.test_images import sign_in_as_demo_admin

pytestmark = pytest.mark.e2e


async def test_invite_find_block_and_unblock_a_user(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    await page.wait_for_url("**/admin/users")
    await page.get_by_label("Email", exact=True).fill("quinn.console@example.com")
    await page.get_by_label("First name").fill("Quinn")
    await page.get_by_role("button", name="Invite").click()
    await page.locator(".toast").filter(has_text="Account made").wait_for()
    invitation = await latest_mail(
        live_data_dir / "outbox", "quinn.console@example.com", "You have a Studioflow account"
    )
    assert "Choose your password" in invitation
    # Found by name, opened by keyboard.
    await page.get_by_label("Email, username or name").fill("quinn")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**q=quinn**")
    link = page.get_by_role("link", name="quinn.console@example.com")
    await link.focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="quinn.console@example.com").wait_for()
    await page.get_by_role("button", name="Block").click()
    await page.get_by_role("dialog").get_by_role("button", name="Block").click()
    await page.locator(".toast").filter(has_text="Blocked").wait_for()
    await expect(page.locator(".badge", has_text="blocked")).to_be_visible()
    await page.get_by_role("button", name="Unblock").click()
    await page.locator(".toast").filter(has_text="Unblocked").wait_for()
    await expect(page.get_by_role("button", name="Block")).to_be_visible()
    # The admin's own page offers no way to lock themself out.
    await page.goto(live_server + "/admin/users?q=admin%40example.com")
    await page.get_by_role("link", name="admin@example.com").click()
    await page.get_by_text("another admin can block or delete it").wait_for()
    assert await page.get_by_role("button", name="Block").count() == 0
    assert page.console_errors == [], page.console_errors


async def test_a_workspace_from_the_console(page, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """An admin who is no member opens a workspace, grants credits, adds a member by
    address, changes the plan, and reads the activity as sentences."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    made = await page.evaluate(
        """async () => {
          const team = await window.studioflow.api('POST', '/api/v1/clients', {name: 'Console Test Team'});
          const person = await window.studioflow.api('POST', '/api/v1/admin/users', {email: 'joiner.console@example.com'});
          return [team.status, person.status];
        }"""
    )
    assert made == [201, 201], made
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Workspaces", exact=True).click()
    await page.wait_for_url("**/admin/clients")
    await page.get_by_label("Workspace name").fill("console test")
    await page.get_by_role("button", name="Find").click()
    await page.get_by_role("link", name="Console Test Team").click()
    await page.get_by_role("heading", name="Console Test Team team workspace").wait_for()
    credits = page.locator(".stat", has_text="Credits").locator(".stat-value")
    before = int(await credits.inner_text())
    await page.get_by_label("Credits (negative").fill("25")
    await page.get_by_role("button", name="Grant").click()
    await page.locator(".toast").filter(has_text="Credits granted").wait_for()
    await expect(credits).to_have_text(str(before + 25))
    await page.get_by_label("Their email").fill("joiner.console@example.com")
    await page.get_by_role("button", name="Add member").click()
    await page.locator(".toast").filter(has_text="Member added").wait_for()
    await expect(page.get_by_role("link", name="joiner.console@example.com")).to_be_visible()
    await page.get_by_label("Plan", exact=True).select_option("pro")
    await page.get_by_role("button", name="Change plan").click()
    await page.locator(".toast").filter(has_text="Plan changed").wait_for()
    await expect(page.locator(".stat", has_text="Plan").locator(".stat-value")).to_have_text("pro")
    await page.get_by_text("added joiner.console@example.com as collaborator").wait_for()
    # A template assigned from the page, with overrides typed as JSON.
    assign = page.get_by_role("form", name="Assign a template")
    await assign.get_by_label("Name").fill("Console portraits")
    await assign.get_by_label("Configuration overrides").fill('{"aspect_ratio": "16:9"}')
    await assign.get_by_role("button", name="Assign").click()
    await page.locator(".toast").filter(has_text="Workflow assigned").wait_for()
    await expect(page.get_by_text("Console portraits")).to_be_visible()
    assert page.console_errors == [], page.console_errors


async def test_turn_a_feature_off_and_on_from_the_settings(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Platform settings")
        .click()
    )
    await page.wait_for_url("**/admin/settings")
    card = page.get_by_role("form", name="media.archive_download")
    try:
        await card.get_by_label("On", exact=True).uncheck()
        await card.get_by_role("button", name="Save").click()
        await page.locator(".toast").filter(has_text="media.archive_download saved").wait_for()
        await expect(page.get_by_role("form", name="media.archive_download")).to_contain_text("off")
        await page.goto(live_server + "/images")
        assert await page.get_by_role("button", name="Download ZIP").count() == 0
    finally:
        restored = await page.evaluate(
            """async () => (await window.studioflow.api('PUT',
                 '/api/v1/admin/flags/media.archive_download', {enabled: true})).status"""
        )
        assert restored == 200
    await page.goto(live_server + "/admin/settings")
    await expect(page.get_by_role("form", name="media.archive_download")).to_contain_text("on")
    assert page.console_errors == [], page.console_errors


async def test_a_ticket_is_asked_and_answered(page, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The demo admin's own workspace asks; the admin answers from the queue, with an
    internal note the workspace's page never shows."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Support", exact=True)
        .click()
    )
    await page.wait_for_url("**/support")
    await page.get_by_label("Subject").fill("Where did my credits go?")
    await page.get_by_label("About").select_option("billing")
    await page.get_by_label("What happened, and what you need").fill("I had 10 and now 3.")
    await page.get_by_role("button", name="Open ticket").click()
    await page.locator(".toast").filter(has_text="Ticket opened").wait_for()
    await page.get_by_role("link", name="Where did my credits go?").first.wait_for()
    # The admins' side.
    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Support tickets")
        .click()
    )
    await page.get_by_role("link", name="Where did my credits go?").first.click()
    # Each step waits for what it changed on the page (a toast of the step before may
    # still be showing).
    await page.get_by_role("textbox", name="Message").fill(
        "Checked the ledger: three runs used them."
    )
    await page.get_by_role("button", name="Send").click()
    await page.locator(".message").filter(has_text="three runs used them").wait_for()
    await page.get_by_role("textbox", name="Message").fill("Customer seems fine, no refund needed.")
    await page.get_by_label("Internal note").check()
    await page.get_by_role("button", name="Send").click()
    await page.locator(".message-internal").filter(has_text="no refund needed").wait_for()
    await page.get_by_label("State").select_option("resolved")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("[data-ticket-status]")).to_have_text("resolved")
    ticket_id = page.url.rsplit("/", 1)[1]
    # The workspace's page: the reply, from the support team; never the note.
    await page.goto(f"{live_server}/support/{ticket_id}")
    await page.get_by_text("three runs used them").wait_for()
    assert await page.get_by_text("no refund needed").count() == 0
    await expect(page.locator("[data-ticket-status]")).to_have_text("resolved")
    assert await page.locator(".message-staff .meta strong").first.inner_text() == "Support team"
    assert page.console_errors == [], page.console_errors


async def test_change_a_plans_limits_in_gigabytes(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Plans").click()
    await page.wait_for_url("**/admin/plans")
    enterprise = page.get_by_role("form", name="Enterprise")
    await enterprise.get_by_label("Storage, GB").fill("512")
    await enterprise.get_by_role("button", name="Save enterprise").click()
    await page.locator(".toast").filter(has_text="Plan enterprise saved").wait_for()
    stored = await page.evaluate(
        """async () => (await window.studioflow.api('GET', '/api/v1/admin/plans')).data.items
             .find(p => p.name === 'enterprise').storage_bytes"""
    )
    assert stored == 512 * 1024**3
    await expect(
        page.get_by_role("form", name="Enterprise").get_by_label("Storage, GB")
    ).to_have_value("512.0")
    assert page.console_errors == [], page.console_errors


async def test_edit_deactivate_and_activate_a_template(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    made = await page.evaluate(
        """async () => (await window.studioflow.api('POST', '/api/v1/admin/workflow-templates',
             {name: 'Throwaway Posters', provider: 'placeholder', model: 'poster-1',
              price_credits: 2})).status"""
    )
    assert made == 201
    await page.goto(live_server + "/admin/studio")
    row = page.locator("tr", has_text="Throwaway Posters")
    await row.get_by_role("button", name="Deactivate").click()
    await page.get_by_role("dialog").get_by_role("button", name="Deactivate").click()
    await page.locator(".toast").filter(has_text="Template deactivated").wait_for()
    await expect(
        page.locator("tr", has_text="Throwaway Posters").get_by_role("button", name="Activate")
    ).to_be_visible()
    await (
        page.locator("tr", has_text="Throwaway Posters")
        .get_by_role("button", name="Activate")
        .click()
    )
    await expect(
        page.locator("tr", has_text="Throwaway Posters").get_by_role("button", name="Deactivate")
    ).to_be_visible()
    await page.get_by_text("Edit Throwaway Posters").click()
    edit = page.get_by_role("form", name="Edit Throwaway Posters")
    await edit.get_by_label("Credits an image").fill("4")
    await edit.get_by_role("button", name="Save Throwaway Posters").click()
    await expect(page.locator("tr", has_text="Throwaway Posters").locator("td.num")).to_have_text(
        "4"
    )
    assert page.console_errors == [], page.console_errors


async def test_the_admins_walk_from_the_dashboard_to_an_answered_ticket(
    page, live_server: str, live_data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """Issue 15's walk: dashboard → a user → block → their workspace → grant credits →
    answer a ticket; and a maintenance banner set from the settings page."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    made = await page.evaluate(
        """async () => {
          const person = await window.studioflow.api('POST', '/api/v1/admin/users',
            {email: 'walker.console@example.com', first_name: 'Wally'});
          const ticket = await window.studioflow.api('POST', '/api/v1/support-tickets',
            {subject: 'Walk: my run stopped', body: 'It stopped at 3 of 10.',
             category: 'workflow', priority: 'high'});
          return [person.status, ticket.status];
        }"""
    )
    assert made == [201, 201], made
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Overview").click()
    await page.wait_for_url("**/admin")
    await page.get_by_role("heading", name="Platform dashboard").wait_for()
    await expect(page.locator(".stat-cards li").first).to_contain_text("Users")
    await page.get_by_role("link", name="7 days").click()
    await page.wait_for_url("**/admin?days=7")
    await expect(page.get_by_label("From", exact=True)).not_to_have_value("")
    # A user, blocked from their page.
    await nav.get_by_role("link", name="Users").click()
    await page.get_by_label("Email, username or name").fill("walker.console")
    await page.keyboard.press("Enter")
    await page.get_by_role("link", name="walker.console@example.com").click()
    await page.get_by_role("button", name="Block").click()
    await page.get_by_role("dialog").get_by_role("button", name="Block").click()
    await expect(page.locator(".badge", has_text="blocked")).to_be_visible()
    # Their workspace, and credits for it.
    await page.get_by_role("link", name="Wally's workspace").click()
    await page.get_by_role("heading", name="Wally's workspace").wait_for()
    credits = page.locator(".stat", has_text="Credits").locator(".stat-value")
    before = int(await credits.inner_text())
    await page.get_by_label("Credits (negative").fill("7")
    await page.get_by_role("button", name="Grant").click()
    await expect(credits).to_have_text(str(before + 7))
    # The ticket, answered.
    await nav.get_by_role("link", name="Support tickets").click()
    await page.get_by_role("link", name="Walk: my run stopped").first.click()
    await page.get_by_role("textbox", name="Message").fill("Restarted it for you.")
    await page.get_by_role("button", name="Send").click()
    await page.locator(".message").filter(has_text="Restarted it for you").wait_for()
    # A maintenance banner from the settings page, on every page; cleared after.
    try:
        await nav.get_by_role("link", name="Platform settings").click()
        await page.get_by_label("Maintenance banner").fill("Walk: maintenance at 22:00")
        await page.get_by_role("button", name="Save settings").click()
        await page.locator(".site-banner", has_text="maintenance at 22:00").wait_for()
        await nav.get_by_role("link", name="Finances").click()
        await page.get_by_role("heading", name="Finances").wait_for()
        await expect(page.locator(".site-banner")).to_contain_text("maintenance at 22:00")
    finally:
        cleared = await page.evaluate(
            """async () => (await window.studioflow.api('PUT', '/api/v1/admin/settings',
                 {maintenance_banner: null})).status"""
        )
        assert cleared == 200
    assert page.console_errors == [], page.console_errors
