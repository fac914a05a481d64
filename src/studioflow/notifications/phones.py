"""A verified phone number per user: the number (E.164) gets a 6-digit code by SMS, with
the email code's rules (10 minutes, 5 wrong guesses, a new code replaces the last); only
once the code comes back is the number the user's. Sending is limited per user (an SMS
costs money and is the favourite tool of toll fraud)."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.service import CODE_MAX_ATTEMPTS, CODE_TTL
from studioflow.identity.tokens import code_hash, six_digit_code
from studioflow.models import Channel, OneTimeCode, User
from studioflow.notifications import content
from studioflow.notifications.content import Message
from studioflow.notifications.repository import NotificationRepository
from studioflow.notifications.service import DELIVER_TASK
from studioflow.platform.errors import BadRequest, NotFound, RateLimited, Unprocessable
from studioflow.platform.runtime import Platform

VERIFY_PHONE = "verify_phone"
SENDS_PER_MINUTE = "1/minute"
SENDS_PER_DAY = "5/day"


def normalise_phone(raw: str) -> str:
    """E.164 (``+4915112345678``), or 422 ``invalid_phone``."""
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise Unprocessable(
            "Give the number in international form, like +49 151 12345678.", code="invalid_phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await NotificationRepository(session).user(user_id)
    if user is None:
        raise NotFound("No such account.")
    return user


async def start(platform: Platform, session: AsyncSession, user_id: uuid.UUID, raw: str) -> str:
    phone = normalise_phone(raw)
    user = await _user(session, user_id)
    for limit in (SENDS_PER_MINUTE, SENDS_PER_DAY):
        hit = await platform.limiter.hit(limit, "account", "phone-code", str(user.id))
        if not hit.allowed:
            raise RateLimited(
                "A code was sent a moment ago; wait before asking for another.",
                retry_after=hit.reset_after,
                headers=dict(hit.headers),
            )
    now = datetime.now(UTC)
    repository = NotificationRepository(session)
    await repository.spend_codes(user.id, VERIFY_PHONE, now)  # a new code replaces the last
    code = six_digit_code()
    record = OneTimeCode(
        user_id=user.id,
        purpose=VERIFY_PHONE,
        code_hash=code_hash(platform.settings.secret, VERIFY_PHONE, user.id, code),
        expires_at=now + CODE_TTL,
        profile={"phone": phone},
    )
    session.add(record)
    await session.flush()
    # Sent as a sealed delivery (the code is in no job payload and no log), to the number
    # being verified, whatever the user's preferences: they asked for it.
    message = Message(
        title="Phone verification",
        body="A code was sent to your phone.",
        sms=f"Your Studioflow code is {code}. It expires in 10 minutes.",
        sms_to=phone,
    )
    delivery = await repository.add_delivery_once(
        {
            "user_id": user.id,
            "event": "security",
            "dedupe_key": f"phone-code:{record.id}",
            "channel": Channel.sms,
            "status": "pending",
            "attempts": 0,
            "content": content.seal(platform.settings.secret, message),
            "created_at": now,
        }
    )
    if delivery is not None:
        platform.queue.defer(
            session, DELIVER_TASK, key=f"notify:{delivery}", delivery_id=str(delivery)
        )
    return phone


async def verify(platform: Platform, session: AsyncSession, user_id: uuid.UUID, code: str) -> str:
    user = await _user(session, user_id)
    invalid = BadRequest(
        "The code is wrong or has expired. Ask for a new one.", code="invalid_code", commit=True
    )
    now = datetime.now(UTC)
    record = await NotificationRepository(session).live_code(user.id, VERIFY_PHONE, now)
    if record is None or record.attempts >= CODE_MAX_ATTEMPTS:
        raise invalid
    expected = code_hash(platform.settings.secret, VERIFY_PHONE, user.id, code.strip())
    if not hmac.compare_digest(expected, record.code_hash):
        record.attempts += 1  # kept: the error commits
        raise invalid
    record.used_at = now
    user.phone = str((record.profile or {})["phone"])
    user.phone_verified_at = now
    await session.flush()
    return user.phone


async def remove(session: AsyncSession, user_id: uuid.UUID) -> None:
    user = await _user(session, user_id)
    user.phone, user.phone_verified_at = None, None
    await session.flush()
