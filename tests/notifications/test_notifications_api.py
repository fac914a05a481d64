"""The in-app list with read markers, and preferences per event and channel (issue 16)."""

from __future__ import annotations

import uuid

import httpx

from studioflow.notifications import service
from studioflow.notifications.content import Message
from studioflow.platform.runtime import Platform
from tests.factories import create_account


async def test_in_app_list_unread_and_read_markers(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    ada = await create_account(client, platform, "ada@example.com")
    bob = await create_account(client, platform, "bob@example.com")
    async with platform.db.transaction() as session:
        for n in range(3):
            await service.notify(
                platform, session, user_id=uuid.UUID(ada.user_id), event="support.reply",
                key=f"reply:{n}", message=Message(title=f"Reply {n}", body="…", link="/support"),
            )  # fmt: skip
    listed = await client.get("/api/v1/notifications?limit=2", headers=ada.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["unread"] == 3 and [n["title"] for n in page["items"]] == ["Reply 2", "Reply 1"]
    rest = await client.get(
        f"/api/v1/notifications?limit=2&cursor={page['next_cursor']}", headers=ada.headers
    )
    assert [n["title"] for n in rest.json()["items"]] == ["Reply 0"]
    newest = page["items"][0]["id"]
    # Another user's notification is not theirs to read: 404, and nothing changes.
    foreign = await client.post(f"/api/v1/notifications/{newest}/read", headers=bob.headers)
    assert foreign.status_code == 404
    read = await client.post(f"/api/v1/notifications/{newest}/read", headers=ada.headers)
    assert read.status_code == 204
    unread = await client.get("/api/v1/notifications?unread=true", headers=ada.headers)
    assert unread.json()["unread"] == 2 and len(unread.json()["items"]) == 2
    assert (await client.get("/api/v1/notifications", headers=bob.headers)).json()["unread"] == 0
    everything = await client.post("/api/v1/notifications/read-all", headers=ada.headers)
    assert everything.status_code == 204
    assert (await client.get("/api/v1/notifications", headers=ada.headers)).json()["unread"] == 0


async def test_preferences_choose_the_channels(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    ada = await create_account(client, platform, "prefs@example.com")
    url = "/api/v1/notifications/preferences"
    defaults = (await client.get(url, headers=ada.headers)).json()
    assert defaults["events"]["appointment.reminder"] == {"email": True, "sms": False, "push": True}
    assert defaults["locked"] == {"security": ["email"]}
    changed = await client.put(
        url, json={"events": {"appointment.reminder": {"sms": True, "email": False}}},
        headers=ada.headers,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"]["appointment.reminder"] == {
        "email": False, "sms": True, "push": True
    }  # fmt: skip
    # Left out: kept.
    again = await client.put(url, json={"events": {"appointment.reminder": {"push": False}}},
                             headers=ada.headers)  # fmt: skip
    assert again.json()["events"]["appointment.reminder"] == {
        "email": False, "sms": True, "push": False
    }  # fmt: skip
    locked = await client.put(url, json={"events": {"security": {"email": False}}},
                              headers=ada.headers)  # fmt: skip
    assert locked.status_code == 422 and locked.json()["code"] == "cannot_disable"
    unknown = await client.put(url, json={"events": {"nope": {"email": False}}},
                               headers=ada.headers)  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_event"
    # An event with email off makes no email delivery.
    async with platform.db.transaction() as session:
        await service.notify(
            platform, session, user_id=uuid.UUID(ada.user_id), event="appointment.reminder",
            key="r1", message=Message(title="Tomorrow", body="10:00"),
        )  # fmt: skip
    from sqlalchemy import select

    from studioflow.models import NotificationDelivery

    async with platform.db.sessionmaker() as session:
        channels = (
            await session.scalars(
                select(NotificationDelivery.channel).where(NotificationDelivery.dedupe_key == "r1")
            )
        ).all()
    assert list(channels) == []  # email off, no verified phone, no push device
