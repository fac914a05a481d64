"""The studio pages render for the right people, and 404 for the wrong ones."""

from __future__ import annotations

from tests.factories import create_account
from tests.identity.helpers import PASSWORD, Account
from tests.studio.conftest import Studio
from tests.studio.test_admin import admin_of


async def browse_as(studio: Studio, email: str, password: str = PASSWORD) -> None:
    """Sign in the way a browser does: the session cookies land in the client's jar."""
    studio.client.cookies.clear()
    response = await studio.client.post(
        "/api/v1/auth/login", json={"identifier": email, "password": password}
    )
    assert response.status_code == 200, response.text


async def test_pages_render_and_stay_in_their_tenant(studio: Studio) -> None:
    execution_id = await studio.execute(["page one", "page two"])
    await studio.wait(execution_id)
    workflow = await studio.workflow_id()
    await browse_as(studio, studio.owner.email)
    for path, text in (
        ("/studio", "Recent executions"),
        (f"/studio/workflows/{workflow}", "Run batch"),
        ("/studio/executions", "Details"),
        ("/studio/executions?status=completed", "Details"),
        (f"/studio/executions/{execution_id}", "Download ZIP"),
        ("/studio/requests", "Send request"),
    ):
        response = await studio.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert text in response.text, path
    document = await studio.client.get(f"/studio/executions/{execution_id}/pdf?paper=Letter")
    assert document.status_code == 200 and document.content.startswith(b"%PDF-")
    assert (await studio.client.get("/admin/studio")).status_code == 404
    other: Account = await create_account(studio.client, studio.platform, "pages-other@example.com")
    await browse_as(studio, other.email)
    for path in (
        f"/studio/workflows/{workflow}",
        f"/studio/executions/{execution_id}",
        f"/studio/executions/{execution_id}/pdf",
    ):
        assert (await studio.client.get(path)).status_code == 404, path
    await admin_of(studio)
    await browse_as(studio, "boss@example.com", "a boss passphrase 42")
    page = await studio.client.get("/admin/studio")
    assert page.status_code == 200 and "Requests to review" in page.text
    studio.client.cookies.clear()
    anonymous = await studio.client.get("/studio", follow_redirects=False)
    assert anonymous.status_code in (302, 303)
