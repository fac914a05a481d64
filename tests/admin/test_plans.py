"""Plans from the console: limits changed and workspaces moved, both audited; the page
shows the limits in the units people read (GB, MB, megapixels)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from studioflow.models import AuditEvent
from studioflow.platform.runtime import Platform
from tests.admin.test_users import PASSPHRASE, make_admin
from tests.factories import create_account


async def test_plan_changes_and_moves_are_audited(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "mover@example.com")
    changed = await client.patch(
        "/api/v1/admin/plans/enterprise",
        json={"monthly_credits": 6000, "storage_bytes": 600 * 1024**3},
        headers=admin.headers,
    )
    assert changed.status_code == 200 and changed.json()["monthly_credits"] == 6000
    same = await client.patch(
        "/api/v1/admin/plans/enterprise", json={"monthly_credits": 6000}, headers=admin.headers
    )
    assert same.status_code == 200  # nothing changed: nothing audited
    moved = await client.patch(
        f"/api/v1/admin/clients/{owner.client_id}", json={"plan": "pro"}, headers=admin.headers
    )
    assert moved.status_code == 200 and moved.json()["plan"] == "pro"
    async with platform.db.read() as session:
        events = list(
            (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.event.startswith("admin.plan_"))
                )
            ).all()
        )
    by_name = {e.event: e for e in events}
    assert sorted(by_name) == ["admin.plan_changed", "admin.plan_moved"]
    assert by_name["admin.plan_changed"].data == {
        "plan": "enterprise",
        "monthly_credits": 6000,
        "storage_bytes": 600 * 1024**3,
    }
    moved_event = by_name["admin.plan_moved"]
    assert str(moved_event.client_id) == owner.client_id
    assert moved_event.data == {"old": "free", "plan": "pro"}
    # The owner's activity says so in a sentence.
    activity = await client.get(
        f"/api/v1/clients/{owner.client_id}/activity", headers=owner.headers
    )
    assert "admin.plan_moved" in [e["event"] for e in activity.json()["items"]]

    await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": PASSPHRASE}
    )
    page = await client.get("/admin/plans")
    assert page.status_code == 200
    assert (
        'name="storage_bytes" type="number" min="0" step="0.001" data-scale="1073741824" value="600.0"'
        in page.text
    )
    client.cookies.clear()
    await client.post(
        "/api/v1/auth/login", json={"identifier": owner.email, "password": owner.password}
    )
    assert (await client.get("/admin/plans")).status_code == 404
    client.cookies.clear()
