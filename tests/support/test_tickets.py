"""Support tickets (seed 000): a workspace opens one, both sides write, admins assign and
move it through its states, internal notes stay internal, replies and state changes are
emailed, resolved tickets close themselves after 7 days."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from studioflow.models import SupportTicket
from studioflow.platform.runtime import Platform
from studioflow.support import service
from tests.admin.test_users import make_admin
from tests.factories import create_account
from tests.identity.helpers import mails_to, wait_for_mail
from tests.media import images


async def open_ticket(client: httpx.AsyncClient, headers: dict[str, str], **extra: object) -> dict:  # type: ignore[type-arg]
    made = await client.post(
        "/api/v1/support-tickets",
        json={
            "subject": "The batch stopped",
            "body": "Half of my run failed with a timeout.",
            "category": "workflow",
            "priority": "high",
            **extra,
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def test_a_ticket_from_opening_to_closing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "asker@example.com")
    image = (
        await client.post(
            "/upload",
            files={"file": ("shot.png", images.noise_png((30, 20)), "image/png")},
            headers=owner.headers,
        )
    ).json()["image"]["id"]
    ticket = await open_ticket(client, owner.headers, image_ids=[image])
    ticket_id = ticket["id"]
    assert ticket["status"] == "open" and ticket["priority"] == "high"
    assert ticket["messages"][0]["image_ids"] == [image]
    assert [
        t["id"]
        for t in (await client.get("/api/v1/support-tickets", headers=owner.headers)).json()[
            "items"
        ]
    ] == [ticket_id]

    queue = (await client.get("/api/v1/admin/support-tickets", headers=admin.headers)).json()
    assert [(t["id"], t["client_name"]) for t in queue["items"]] == [
        (ticket_id, "asker's workspace")
    ]
    # An internal note: the admins see it, the workspace never does, nobody is emailed.
    note = await client.post(
        f"/api/v1/admin/support-tickets/{ticket_id}/messages",
        json={"body": "Looks like the provider's outage on Tuesday.", "internal": True},
        headers=admin.headers,
    )
    assert note.status_code == 201 and note.json()["internal"] is True
    seen = (await client.get(f"/api/v1/support-tickets/{ticket_id}", headers=owner.headers)).json()
    assert [m["body"] for m in seen["messages"]] == ["Half of my run failed with a timeout."]
    assert seen["status"] == "open"
    staff = (
        await client.get(f"/api/v1/admin/support-tickets/{ticket_id}", headers=admin.headers)
    ).json()
    assert [m["internal"] for m in staff["messages"]] == [False, True]

    # A public reply: in progress, and the opener is emailed.
    replied = await client.post(
        f"/api/v1/admin/support-tickets/{ticket_id}/messages",
        json={"body": "We are on it: can you send the run id?"},
        headers=admin.headers,
    )
    assert replied.status_code == 201
    mail = await wait_for_mail(platform, "asker@example.com", subject="New reply")
    assert "can you send the run id" in str(mail.get_payload())
    # The reply is in the opener's notifications too (the bell), linking to the ticket.
    bell = (await client.get("/api/v1/notifications", headers=owner.headers)).json()
    assert [(n["event"], n["link"]) for n in bell["items"]] == [
        ("support.reply", f"/support/{ticket_id}")
    ]
    await client.patch(
        f"/api/v1/admin/support-tickets/{ticket_id}",
        json={"status": "waiting_on_client", "assignee_id": admin.user_id},
        headers=admin.headers,
    )
    await wait_for_mail(platform, "asker@example.com", subject="waiting for your answer")
    # The workspace answers: back in progress, and the assignee is emailed.
    answer = await client.post(
        f"/api/v1/support-tickets/{ticket_id}/messages",
        json={"body": "It is 01a2..."},
        headers=owner.headers,
    )
    assert answer.status_code == 201
    await wait_for_mail(platform, "boss@example.com", subject="New reply on ticket")
    state = (await client.get(f"/api/v1/support-tickets/{ticket_id}", headers=owner.headers)).json()
    assert state["status"] == "in_progress"
    assert [m["author"] for m in state["messages"]][-2:] == [
        "boss@example.com",
        "asker@example.com",
    ]

    # Resolved, then reopened by a reply; resolved again and closed by the job a week on.
    resolved = await client.patch(
        f"/api/v1/admin/support-tickets/{ticket_id}",
        json={"status": "resolved"},
        headers=admin.headers,
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    await client.post(
        f"/api/v1/support-tickets/{ticket_id}/messages",
        json={"body": "One more thing"},
        headers=owner.headers,
    )
    state = (await client.get(f"/api/v1/support-tickets/{ticket_id}", headers=owner.headers)).json()
    assert state["status"] == "open" and state["resolved_at"] is None
    await client.patch(
        f"/api/v1/admin/support-tickets/{ticket_id}",
        json={"status": "resolved"},
        headers=admin.headers,
    )
    assert await service.close_resolved(platform) == 0  # not a week yet
    async with platform.db.transaction() as session:
        await session.execute(
            update(SupportTicket)
            .where(SupportTicket.id == uuid.UUID(ticket_id))
            .values(resolved_at=datetime.now(UTC) - timedelta(days=8))
        )
    assert await service.close_resolved(platform) == 1
    await wait_for_mail(platform, "asker@example.com", subject="is closed")
    closed = (
        await client.get(f"/api/v1/support-tickets/{ticket_id}", headers=owner.headers)
    ).json()
    assert closed["status"] == "closed" and closed["closed_at"]
    late = await client.post(
        f"/api/v1/support-tickets/{ticket_id}/messages",
        json={"body": "Hello?"},
        headers=owner.headers,
    )
    assert late.status_code == 409 and late.json()["code"] == "ticket_closed"
    back = await client.patch(
        f"/api/v1/admin/support-tickets/{ticket_id}", json={"status": "open"}, headers=admin.headers
    )
    assert back.status_code == 409 and back.json()["code"] == "invalid_transition"
    # The internal note never reached the workspace's mailbox either.
    assert not any(
        "outage" in str(m.get_payload()) for m in mails_to(platform, "asker@example.com")
    )


async def test_tickets_are_the_workspaces_own(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    owner = await create_account(client, platform, "mine@example.com")
    other = await create_account(client, platform, "theirs@example.com")
    ticket = await open_ticket(client, owner.headers)
    for method, path, body in (
        ("GET", f"/api/v1/support-tickets/{ticket['id']}", None),
        ("POST", f"/api/v1/support-tickets/{ticket['id']}/messages", {"body": "hi"}),
        ("POST", f"/api/v1/support-tickets/{ticket['id']}/close", None),
    ):
        answer = await client.request(method, path, json=body, headers=other.headers)
        assert answer.status_code == 404, (method, path)
    assert (await client.get("/api/v1/support-tickets", headers=other.headers)).json()[
        "items"
    ] == []
    # Another workspace's image or run cannot be attached.
    theirs = (
        await client.post(
            "/upload",
            files={"file": ("x.png", images.noise_png((21, 20)), "image/png")},
            headers=other.headers,
        )
    ).json()["image"]["id"]
    refused = await client.post(
        "/api/v1/support-tickets",
        json={"subject": "x", "body": "y", "image_ids": [theirs]},
        headers=owner.headers,
    )
    assert refused.status_code == 404
    # Assigning needs an active admin; staff endpoints are admins' only.
    not_admin = await client.patch(
        f"/api/v1/admin/support-tickets/{ticket['id']}",
        json={"assignee_id": owner.user_id},
        headers=admin.headers,
    )
    assert not_admin.status_code == 422
    assert (
        await client.get("/api/v1/admin/support-tickets", headers=owner.headers)
    ).status_code == 403
    bad = await client.post(
        "/api/v1/support-tickets",
        json={"subject": "x", "body": "y", "priority": "now!"},
        headers=owner.headers,
    )
    assert bad.status_code == 422
    closed = await client.post(
        f"/api/v1/support-tickets/{ticket['id']}/close", headers=owner.headers
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


async def test_an_empty_message_is_refused(client: httpx.AsyncClient, platform: Platform) -> None:
    owner = await create_account(client, platform, "quiet@example.com")
    ticket = await open_ticket(client, owner.headers)
    for body in ({}, {"body": "   "}):
        refused = await client.post(
            f"/api/v1/support-tickets/{ticket['id']}/messages", json=body, headers=owner.headers
        )
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error"


async def test_a_blank_ticket_is_refused(client: httpx.AsyncClient, platform: Platform) -> None:
    owner = await create_account(client, platform, "blank@example.com")
    for body in ({"subject": "   ", "body": "text"}, {"subject": "Help", "body": " \n "}):
        refused = await client.post("/api/v1/support-tickets", json=body, headers=owner.headers)
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error"
    assert (await client.get("/api/v1/support-tickets", headers=owner.headers)).json()[
        "items"
    ] == []
