"""Every admin action is an audit entry (issue 15): credit grants (once, whatever retries),
template changes, assigning a workflow, reviewing a request, replies to tickets (an
internal note never on the workspace's timeline)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from studioflow.models import AuditEvent
from studioflow.platform.runtime import Platform
from tests.admin.test_users import make_admin
from tests.factories import create_account


async def entries(platform: Platform, prefix: str) -> list[AuditEvent]:
    async with platform.db.read() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.event.startswith(prefix)).order_by(AuditEvent.id)
        )
        return list(rows.all())


async def test_admin_actions_are_audited(client: httpx.AsyncClient, platform: Platform) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "owner@example.com")
    grant = {"amount": 25, "reason": "goodwill"}
    retry = {**admin.headers, "Idempotency-Key": "grant-1"}
    for _ in range(2):  # a retry changes nothing: one entry
        answer = await client.post(
            f"/api/v1/admin/clients/{owner.client_id}/credits", json=grant, headers=retry
        )
        assert answer.status_code == 200, answer.text
    (granted,) = await entries(platform, "admin.credits_granted")
    assert str(granted.client_id) == owner.client_id
    assert granted.data == {"amount": 25, "reason": "goodwill"}

    made = await client.post(
        "/api/v1/admin/workflow-templates",
        json={"name": "Audit posters", "provider": "placeholder", "model": "p-1"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    template_id = made.json()["id"]
    changed = await client.patch(
        f"/api/v1/admin/workflow-templates/{template_id}",
        json={"price_credits": 3, "is_active": False},
        headers=admin.headers,
    )
    assert changed.status_code == 200
    await client.patch(
        f"/api/v1/admin/workflow-templates/{template_id}",
        json={"is_active": True},
        headers=admin.headers,
    )
    assigned = await client.post(
        f"/api/v1/admin/clients/{owner.client_id}/workflows",
        json={"template_id": template_id},
        headers=admin.headers,
    )
    assert assigned.status_code == 201, assigned.text
    asked = await client.post(
        "/api/v1/workflow-requests",
        json={"title": "Logos", "description": "Square logos, please."},
        headers=owner.headers,
    )
    reviewed = await client.post(
        f"/api/v1/admin/workflow-requests/{asked.json()['id']}/review",
        json={"decision": "decline", "note": "Not yet."},
        headers=admin.headers,
    )
    assert reviewed.status_code == 200, reviewed.text
    events = [(e.event, e.data.get("fields")) for e in await entries(platform, "admin.")]
    assert ("admin.template_created", None) in events
    assert ("admin.template_changed", ["is_active", "price_credits"]) in events
    assert ("admin.template_changed", ["is_active"]) in events
    (assign,) = await entries(platform, "admin.workflow_assigned")
    (review,) = await entries(platform, "admin.workflow_request_reviewed")
    assert str(assign.client_id) == owner.client_id == str(review.client_id)
    assert review.data["decision"] == "declined"

    # A reply's notification is sent by a job that uses the database, and this test's
    # sessions share one connection: no job may run beside the requests from here on.
    await platform.stop_worker()
    ticket = await client.post(
        "/api/v1/support-tickets",
        json={"subject": "Help", "body": "Where are my images?"},
        headers=owner.headers,
    )
    ticket_id = ticket.json()["id"]
    for internal in (False, True):
        answer = await client.post(
            f"/api/v1/admin/support-tickets/{ticket_id}/messages",
            json={"body": "On it.", "internal": internal},
            headers=admin.headers,
        )
        assert answer.status_code == 201, answer.text
    replies = await entries(platform, "support.staff_replied")
    assert [(r.data["internal"], str(r.client_id) == owner.client_id) for r in replies] == [
        (False, True),
        (True, False),  # the note is on the admin's own timeline, not the workspace's
    ]
    activity = await client.get(
        f"/api/v1/clients/{owner.client_id}/activity", headers=owner.headers
    )
    assert activity.status_code == 200
    assert sum(e["event"] == "support.staff_replied" for e in activity.json()["items"]) == 1
