"""Telling users things: :func:`notify` records an event for a user (in-app at once, and a
delivery per channel the user wants), in the caller's transaction, so a rolled-back change
tells nobody. The deliveries go out from the ``notifications.deliver`` job after the commit.
Preferences, the in-app list and push devices are here too."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import (
    Channel,
    DevicePlatform,
    Notification,
    PushDevice,
    User,
)
from studioflow.notifications import content
from studioflow.notifications.content import Message
from studioflow.notifications.events import EVENTS, spec
from studioflow.notifications.repository import NotificationRepository
from studioflow.platform.errors import NotFound, Unprocessable
from studioflow.platform.pagination import PageParams
from studioflow.platform.runtime import Platform

DELIVER_TASK = "notifications.deliver"
# Read in-app notifications are kept this long.
READ_KEPT = timedelta(days=90)


def _now() -> datetime:
    return datetime.now(UTC)


async def notify(
    platform: Platform,
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    event: str,
    key: str,
    message: Message,
) -> bool:
    """Tell ``user_id`` about ``event`` once per ``key`` (a second call with the same key
    adds nothing): an in-app notification, and the email, SMS and push the user's
    preferences ask for. False when this key was told already."""
    event_spec = spec(event)
    repository = NotificationRepository(session)
    first = await repository.add_once(
        {
            "user_id": user_id,
            "event": event,
            "dedupe_key": key[:200],
            "title": message.title[:200],
            "body": message.body[:1000],
            "link": message.link,
            "created_at": _now(),
        }
    )
    choices = await repository.preferences(user_id)
    user = await repository.user(user_id)
    if user is None or not user.is_active:
        return first is not None
    sealed: str | None = None
    for channel in Channel:
        wanted = channel in event_spec.locked or choices.get(
            (event, channel), event_spec.default(channel)
        )
        if not wanted or not await _reachable(repository, user, channel, message):
            continue
        sealed = sealed or content.seal(platform.settings.secret, message)
        delivery = await repository.add_delivery_once(
            {
                "user_id": user_id,
                "event": event,
                "dedupe_key": key[:200],
                "channel": channel,
                "status": "pending",
                "attempts": 0,
                "content": sealed,
                "created_at": _now(),
            }
        )
        if delivery is not None:
            platform.queue.defer(
                session, DELIVER_TASK, key=f"notify:{delivery}", delivery_id=str(delivery)
            )
    return first is not None


async def told(session: AsyncSession, user_id: uuid.UUID, key: str) -> bool:
    """Whether ``user_id`` was told about ``key`` already (to skip building a message)."""
    return await NotificationRepository(session).has_key(user_id, key[:200])


async def _reachable(
    repository: NotificationRepository, user: User, channel: Channel, message: Message
) -> bool:
    """Whether the channel has somewhere to go: a verified phone, an active device."""
    if channel is Channel.sms:
        return bool(message.sms_to or (user.phone and user.phone_verified_at))
    if channel is Channel.push:
        return bool(await repository.devices(user.id))
    return True


# --- in-app ------------------------------------------------------------------------------


async def listed(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams, *, unread: bool
) -> tuple[list[Notification], str | None, int]:
    repository = NotificationRepository(session)
    rows, cursor = await repository.page(user_id, params, unread=unread)
    return rows, cursor, await repository.unread(user_id)


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await NotificationRepository(session).unread(user_id)


async def mark_read(session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
    repository = NotificationRepository(session)
    if not await repository.exists(user_id, notification_id):
        raise NotFound("No such notification.")
    await repository.mark_read(user_id, _now(), notification_id)


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await NotificationRepository(session).mark_read(user_id, _now())


# --- preferences -------------------------------------------------------------------------


async def preferences(session: AsyncSession, user_id: uuid.UUID) -> dict[str, dict[str, bool]]:
    """Every event with each channel on or off (the user's choice, else the default)."""
    choices = await NotificationRepository(session).preferences(user_id)
    return {
        event: {
            channel.value: channel in s.locked or choices.get((event, channel), s.default(channel))
            for channel in Channel
        }
        for event, s in EVENTS.items()
    }


async def set_preferences(
    session: AsyncSession, user_id: uuid.UUID, changes: dict[str, dict[str, bool | None]]
) -> dict[str, dict[str, bool]]:
    """Change the channels named (others keep their value); 422 ``unknown_event`` for an
    event that does not exist, ``cannot_disable`` for security mail."""
    repository = NotificationRepository(session)
    choices = await repository.preferences(user_id)
    for event, channels in changes.items():
        if event not in EVENTS:
            raise Unprocessable(f"There is no event {event!r}.", code="unknown_event")
        for name, enabled in channels.items():
            if enabled is None:
                continue
            channel = Channel(name)
            if channel in EVENTS[event].locked and not enabled:
                raise Unprocessable(
                    "Security mail cannot be turned off: it is how you learn that someone "
                    "else is using your account.",
                    code="cannot_disable",
                )
            choices[(event, channel)] = enabled
    await repository.replace_preferences(user_id, choices)
    return await preferences(session, user_id)


# --- push devices ------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _web_subscription(platform: Platform, token: str) -> str:
    """A browser's PushSubscription JSON, checked: the server will POST to its endpoint,
    so only the push services' own hosts are accepted (no request to an address a user
    chose, such as one inside our network)."""
    invalid = Unprocessable(
        "Give the browser's PushSubscription JSON (endpoint and keys).", code="invalid_subscription"
    )
    try:
        data = json.loads(token)
        endpoint = str(data["endpoint"])
        keys = data["keys"]
        p256dh, auth = str(keys["p256dh"]), str(keys["auth"])
    except (ValueError, KeyError, TypeError):
        raise invalid from None
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    allowed = platform.settings.webpush_hosts
    if not any(host == h or host.endswith(f".{h}") for h in allowed):
        raise Unprocessable(
            "That endpoint is not a known push service.", code="invalid_subscription"
        )
    if parts.scheme != "https" and host not in platform.settings.webpush_insecure_hosts:
        raise Unprocessable("Push endpoints use https.", code="invalid_subscription")
    # Stored in one canonical form, so the same subscription is one device.
    return json.dumps(
        {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}, sort_keys=True
    )


async def add_device(
    platform: Platform, session: AsyncSession, user_id: uuid.UUID, kind: str, token: str
) -> PushDevice:
    """Register a device for pushes (again: the same row, enabled, now this user's)."""
    if kind == DevicePlatform.web:
        token = _web_subscription(platform, token)
    elif not token.strip():
        raise Unprocessable("Give the app's registration token.", code="invalid_token")
    repository = NotificationRepository(session)
    digest = _token_hash(token)
    row = await repository.device_by_hash(digest)
    if row is None:
        row = PushDevice(platform=DevicePlatform(kind), token=token, token_hash=digest)
        session.add(row)
    # A device signed in by another user now belongs to this one: pushes follow the person
    # holding the device.
    row.user_id = user_id
    row.platform = DevicePlatform(kind)
    row.disabled_at = None
    row.disabled_reason = None
    await session.flush()
    return row


async def devices(session: AsyncSession, user_id: uuid.UUID) -> list[PushDevice]:
    return await NotificationRepository(session).devices(user_id, active=False)


async def remove_device(session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    repository = NotificationRepository(session)
    row = await repository.device(user_id, device_id)
    if row is None:
        raise NotFound("No such device.")
    await session.delete(row)
    await session.flush()


def preferences_payload(values: dict[str, dict[str, bool]]) -> dict[str, Any]:
    return {
        "events": values,
        "labels": {event: s.label for event, s in EVENTS.items()},
        "locked": {e: sorted(c.value for c in s.locked) for e, s in EVENTS.items() if s.locked},
    }
