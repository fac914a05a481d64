"""Notifications through every channel against local fakes of Twilio, FCM and a Web Push
service (issue 16): a verified phone by SMS code, one event told once on each channel the
user wants, the services' errors (an invalid number fails without retry, a rate limit is
retried, a gone device is disabled), and the outboxes of an installation without keys."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from sqlalchemy import select

from studioflow.models import DeliveryStatus, NotificationDelivery, PushDevice, User
from studioflow.notifications import delivery, service
from studioflow.notifications.content import Attachment, Message
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.fakes.messaging import INVALID_NUMBER, browser_subscription, decrypt_push
from tests.notifications.conftest import Live, Messaging

PHONE = "+4915112345678"


async def deliveries(platform: Platform, key: str) -> dict[str, NotificationDelivery]:
    async with platform.db.sessionmaker() as session:
        rows = await session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.dedupe_key == key)
        )
        return {r.channel.value: r for r in rows.all()}


async def settled(platform: Platform, key: str, count: int) -> dict[str, NotificationDelivery]:
    """The deliveries of ``key`` once none is pending (the worker sends them)."""
    for _ in range(200):
        found = await deliveries(platform, key)
        if len(found) == count and all(
            r.status is not DeliveryStatus.pending for r in found.values()
        ):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries of {key} did not settle: {await deliveries(platform, key)}")


async def tell(platform: Platform, user_id: str, key: str, event: str, **message: object) -> bool:
    async with platform.db.transaction() as session:
        return await service.notify(
            platform,
            session,
            user_id=uuid.UUID(user_id),
            event=event,
            key=key,
            message=Message(**message),  # type: ignore[arg-type]
        )


async def verify_phone(
    client: httpx.AsyncClient, messaging: Messaging, headers: dict[str, str]
) -> None:
    sent = await client.post("/api/v1/account/phone", json={"phone": "+49 151 12345678"},
                             headers=headers)  # fmt: skip
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"phone": PHONE, "verified": False}
    for _ in range(200):
        if messaging.fake.sms:
            break
        await asyncio.sleep(0.05)
    text = messaging.fake.sms[-1]["body"]
    assert messaging.fake.sms[-1]["to"] == PHONE
    code = text.split("code is ")[1][:6]
    wrong = await client.post("/api/v1/account/phone/verify", json={"code": "000000"},
                              headers=headers)  # fmt: skip
    if code != "000000":
        assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_code"
    ok = await client.post("/api/v1/account/phone/verify", json={"code": code}, headers=headers)
    assert ok.status_code == 200 and ok.json() == {"phone": PHONE, "verified": True}
    again = await client.post("/api/v1/account/phone/verify", json={"code": code}, headers=headers)
    assert again.status_code == 400  # used


async def test_one_event_reaches_every_channel_once(live: Live, messaging: Messaging) -> None:
    client, platform = live.client, live.platform
    messaging.configure(platform.settings)
    user = await create_account(client, platform, "ada@example.com")
    await verify_phone(client, messaging, user.headers)
    subscription, browser_key, auth = browser_subscription(messaging.url, "laptop")
    web = await client.post("/api/v1/push-devices",
                            json={"platform": "web", "token": json.dumps(subscription)},
                            headers=user.headers)  # fmt: skip
    assert web.status_code == 201, web.text
    app = await client.post("/api/v1/push-devices", json={"platform": "android", "token": "phone-1"},
                            headers=user.headers)  # fmt: skip
    assert app.status_code == 201
    invite = Attachment("appointment.ics", "text/calendar; method=REQUEST", b"BEGIN:VCALENDAR")
    for _ in range(2):  # raised twice (a retried job): told once
        await tell(platform, user.user_id, "appt:1:cancelled", "appointment.cancelled",
                   title="Appointment cancelled", body="Bridal make-up on Monday at 09:00",
                   link="/appointments/1", email_text="Cancelled. Secret link: /x?token=abc",
                   attachments=(invite,))  # fmt: skip
    found = await settled(platform, "appt:1:cancelled", 3)
    assert {c: r.status.value for c, r in found.items()} == {
        "email": "sent", "sms": "sent", "push": "sent"
    }  # fmt: skip
    # SMS: through Twilio, to the verified number.
    assert [m["to"] for m in messaging.fake.sms[1:]] == [PHONE]
    assert "Appointment cancelled" in messaging.fake.sms[-1]["body"]
    # Push: FCM HTTP v1 with a token from the service account's JWT, and Web Push
    # encrypted to the browser's key (it decrypts), with a VAPID signature.
    assert [m["token"] for m in messaging.fake.fcm] == ["phone-1"]
    assert messaging.fake.fcm[0]["notification"]["title"] == "Appointment cancelled"
    assert messaging.fake.token_requests == 1
    [pushed] = messaging.fake.pushes
    assert pushed["encoding"] == "aes128gcm" and pushed["authorization"].startswith("vapid t=")
    assert decrypt_push(pushed["body"], browser_key, auth)["title"] == "Appointment cancelled"
    # Email: the outbox mailer, text with its calendar attachment.
    mails = sorted(platform.outbox.glob("*.eml"))
    body = mails[-1].read_text()
    assert "Cancelled. Secret link" in body and 'filename="appointment.ics"' in body
    assert "method=REQUEST" in body or 'method="REQUEST"' in body
    # In-app: one notification, unread.
    listed = await client.get("/api/v1/notifications", headers=user.headers)
    assert listed.json()["unread"] == 1
    assert [n["title"] for n in listed.json()["items"]] == ["Appointment cancelled"]
    # A second event reuses the cached FCM token.
    await tell(platform, user.user_id, "appt:1:moved", "appointment.rescheduled",
               title="Moved", body="Now at 10:00")  # fmt: skip
    await settled(platform, "appt:1:moved", 3)
    assert messaging.fake.token_requests == 1 and len(messaging.fake.fcm) == 2


async def test_the_services_errors(
    client: httpx.AsyncClient, platform: Platform, messaging: Messaging
) -> None:
    messaging.configure(platform.settings)
    user = await create_account(client, platform, "grace@example.com")
    uid = uuid.UUID(user.user_id)
    async with platform.db.transaction() as session:
        row = await session.get(User, uid)
        assert row is not None
        row.phone, row.phone_verified_at = INVALID_NUMBER, row.created_at
    # Twilio 21211: failed at once with a stable code, never retried.
    await tell(platform, user.user_id, "k1", "appointment.cancelled", title="T", body="B")
    sms = (await deliveries(platform, "k1"))["sms"]
    assert await delivery.deliver(platform, sms.id) == "failed"
    after = (await deliveries(platform, "k1"))["sms"]
    assert (after.status.value, after.error, after.attempts) == ("failed", "invalid_number", 1)
    assert await delivery.deliver(platform, sms.id) == "failed"  # a stray retry: no send
    assert (await deliveries(platform, "k1"))["sms"].attempts == 1
    # Twilio 429: kept pending and raised for the job to retry; sent on the next try.
    async with platform.db.transaction() as session:
        row = await session.get(User, uid)
        assert row is not None
        row.phone = PHONE
    messaging.fake.busy.add(PHONE)
    await tell(platform, user.user_id, "k2", "appointment.cancelled", title="T", body="B")
    sms = (await deliveries(platform, "k2"))["sms"]
    try:
        await delivery.deliver(platform, sms.id)
        raise AssertionError("a rate limit must be retried")
    except delivery.TryLater as error:
        assert error.code == "twilio_429" and error.retry_after == 1.0
    assert (await deliveries(platform, "k2"))["sms"].status.value == "pending"
    messaging.fake.busy.clear()
    assert await delivery.deliver(platform, sms.id) == "sent"
    assert (await deliveries(platform, "k2"))["sms"].attempts == 2
    # Push: a device FCM calls UNREGISTERED and a browser subscription the service answers
    # 410 for are disabled; the delivery fails when no device is left.
    gone_web, _, _ = browser_subscription(messaging.url, "gone")
    for kind, token in (("android", "gone"), ("web", json.dumps(gone_web))):
        added = await client.post("/api/v1/push-devices", json={"platform": kind, "token": token},
                                  headers=user.headers)  # fmt: skip
        assert added.status_code == 201, added.text
    await tell(platform, user.user_id, "k3", "appointment.cancelled", title="T", body="B")
    push = (await deliveries(platform, "k3"))["push"]
    assert await delivery.deliver(platform, push.id) == "failed"
    async with platform.db.sessionmaker() as session:
        devices = (await session.scalars(select(PushDevice))).all()
    assert sorted(d.disabled_reason or "" for d in devices) == ["unregistered", "unsubscribed"]
    listed = await client.get("/api/v1/push-devices", headers=user.headers)
    assert all(d["disabled_at"] for d in listed.json())
    # No active device: the next event makes no push delivery at all.
    await tell(platform, user.user_id, "k4", "appointment.cancelled", title="T", body="B")
    assert "push" not in await deliveries(platform, "k4")
    # FCM 429: retried.
    await client.post("/api/v1/push-devices", json={"platform": "ios", "token": "busy"},
                      headers=user.headers)  # fmt: skip
    await tell(platform, user.user_id, "k5", "appointment.cancelled", title="T", body="B")
    push = (await deliveries(platform, "k5"))["push"]
    try:
        await delivery.deliver(platform, push.id)
        raise AssertionError("FCM's quota answer must be retried")
    except delivery.TryLater as error:
        assert error.code == "quota_exceeded"


async def test_without_keys_each_channel_writes_its_outbox(live: Live) -> None:
    client, platform = live.client, live.platform
    user = await create_account(client, platform, "offline@example.com")
    sent = await client.post("/api/v1/account/phone", json={"phone": PHONE}, headers=user.headers)
    assert sent.status_code == 202
    outbox = platform.settings.data_dir / "outbox"
    for _ in range(200):
        if list((outbox / "sms").glob("*.json")):
            break
        await asyncio.sleep(0.05)
    [code_file] = list((outbox / "sms").glob("*.json"))
    code_sms = json.loads(code_file.read_text())
    assert code_sms["to"] == PHONE and code_sms["sender"] == "outbox"
    code = code_sms["body"].split("code is ")[1][:6]
    verified = await client.post("/api/v1/account/phone/verify", json={"code": code},
                                 headers=user.headers)  # fmt: skip
    assert verified.status_code == 200
    await client.post("/api/v1/push-devices", json={"platform": "android", "token": "t-1"},
                      headers=user.headers)  # fmt: skip
    await tell(platform, user.user_id, "o1", "appointment.cancelled", title="Cancelled", body="B")
    found = await settled(platform, "o1", 3)
    assert {r.status.value for r in found.values()} == {"sent"}
    pushes = [json.loads(p.read_text()) for p in (outbox / "push").glob("*.json")]
    assert pushes == [{"platform": "android", "sender": "outbox", "title": "Cancelled",
                       "body": "B", "link": None}]  # fmt: skip
    assert len(list((outbox / "sms").glob("*.json"))) == 2


async def test_phone_numbers_and_codes_are_checked(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await create_account(client, platform, "lin@example.com")
    bad = await client.post("/api/v1/account/phone", json={"phone": "12345"}, headers=user.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_phone"
    first = await client.post("/api/v1/account/phone", json={"phone": PHONE}, headers=user.headers)
    assert first.status_code == 202
    soon = await client.post("/api/v1/account/phone", json={"phone": PHONE}, headers=user.headers)
    assert soon.status_code == 429 and "retry-after" in soon.headers
    # The code, as the phone would receive it (the outbox: no Twilio account here).
    async with platform.db.sessionmaker() as session:
        sent = await session.scalar(
            select(NotificationDelivery).where(NotificationDelivery.dedupe_key.like("phone-code:%"))
        )
    assert sent is not None and await delivery.deliver(platform, sent.id) == "sent"
    [outbox] = (platform.settings.data_dir / "outbox" / "sms").glob("*.json")
    code = json.loads(outbox.read_text())["body"].split("code is ")[1][:6]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        guess = await client.post("/api/v1/account/phone/verify", json={"code": wrong},
                                  headers=user.headers)  # fmt: skip
        assert guess.status_code == 400 and guess.json()["code"] == "invalid_code"
    # Five wrong guesses spend the code: the right one no longer verifies the number.
    late = await client.post("/api/v1/account/phone/verify", json={"code": code},
                             headers=user.headers)  # fmt: skip
    assert late.status_code == 400 and late.json()["code"] == "invalid_code"
    async with platform.db.sessionmaker() as session:
        row = await session.get(User, uuid.UUID(user.user_id))
        assert row is not None and row.phone is None
