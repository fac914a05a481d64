"""The notifications API (API.md, "Notifications"): the in-app list and read markers, the
preferences per event and channel, push devices, and the verified phone for SMS."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from studioflow.identity.auth import Authenticated, UserOnly, platform_of
from studioflow.models import Notification, PushDevice
from studioflow.notifications import phones, service
from studioflow.notifications.schemas import (
    DeviceIn,
    DeviceOut,
    NotificationOut,
    NotificationPage,
    PhoneCodeIn,
    PhoneIn,
    PhoneOut,
    PreferencesIn,
    PreferencesOut,
)
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import answers
from studioflow.platform.pagination import PageParams, page_params

router = APIRouter(tags=["notifications"])


def notification_out(row: Notification) -> NotificationOut:
    return NotificationOut(
        id=row.id,
        event=row.event,
        title=row.title,
        body=row.body,
        link=row.link,
        read_at=row.read_at,
        created_at=row.created_at,
    )


def device_out(row: PushDevice) -> DeviceOut:
    return DeviceOut(
        id=row.id,
        platform=row.platform.value,
        created_at=row.created_at,
        last_sent_at=row.last_sent_at,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
    )


@router.get("/api/v1/notifications", response_model=NotificationPage)
async def list_notifications(
    principal: Authenticated,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    unread: bool = False,
) -> NotificationPage:
    """Your in-app notifications, newest first, with the unread count."""
    rows, cursor, count = await service.listed(session, principal.user_id, params, unread=unread)
    return NotificationPage(
        items=[notification_out(r) for r in rows], unread=count, next_cursor=cursor
    )


@router.post("/api/v1/notifications/read-all", status_code=204)
async def read_all(principal: Authenticated, session: SessionDep) -> Response:
    """Mark every notification read."""
    await service.mark_all_read(session, principal.user_id)
    return Response(status_code=204)


@router.post("/api/v1/notifications/{notification_id}/read", status_code=204)
async def read_one(
    notification_id: uuid.UUID, principal: Authenticated, session: SessionDep
) -> Response:
    """Mark one notification read."""
    await service.mark_read(session, principal.user_id, notification_id)
    return Response(status_code=204)


@router.get("/api/v1/notifications/preferences", response_model=PreferencesOut)
async def get_preferences(principal: Authenticated, session: SessionDep) -> PreferencesOut:
    """Each event with its channels on or off."""
    values = await service.preferences(session, principal.user_id)
    return PreferencesOut(**service.preferences_payload(values))


@router.put(
    "/api/v1/notifications/preferences",
    response_model=PreferencesOut,
    responses=answers(
        {422: "An unknown event (`unknown_event`), or security mail off (`cannot_disable`)."}
    ),
)
async def put_preferences(
    body: PreferencesIn, principal: Authenticated, session: SessionDep
) -> PreferencesOut:
    """Turn channels of events on or off (those left out keep their value)."""
    changes = {e: c.model_dump() for e, c in body.events.items()}
    values = await service.set_preferences(session, principal.user_id, changes)
    return PreferencesOut(**service.preferences_payload(values))


@router.get("/api/v1/push-devices", response_model=list[DeviceOut])
async def list_devices(principal: Authenticated, session: SessionDep) -> list[DeviceOut]:
    """Your registered push devices (a disabled one says why)."""
    return [device_out(d) for d in await service.devices(session, principal.user_id)]


@router.post(
    "/api/v1/push-devices",
    status_code=201,
    response_model=DeviceOut,
    responses=answers(
        {422: "Not a subscription of a known push service (`invalid_subscription`)."}
    ),
)
async def add_device(
    body: DeviceIn, request: Request, principal: Authenticated, session: SessionDep
) -> DeviceOut:
    """Register a browser (its PushSubscription) or an app (its FCM token) for pushes."""
    row = await service.add_device(
        platform_of(request), session, principal.user_id, body.platform, body.token
    )
    return device_out(row)


@router.delete("/api/v1/push-devices/{device_id}", status_code=204)
async def remove_device(
    device_id: uuid.UUID, principal: Authenticated, session: SessionDep
) -> Response:
    """Stop pushes to a device."""
    await service.remove_device(session, principal.user_id, device_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/account/phone",
    status_code=202,
    response_model=PhoneOut,
    responses=answers(
        {
            422: "Not a valid number in international form (`invalid_phone`).",
            429: "A code was sent moments ago (`rate_limited`).",
        }
    ),
)
async def start_phone(
    body: PhoneIn, request: Request, principal: UserOnly, session: SessionDep
) -> PhoneOut:
    """Send a 6-digit code by SMS to the number; it becomes yours once verified."""
    phone = await phones.start(platform_of(request), session, principal.user_id, body.phone)
    return PhoneOut(phone=phone, verified=False)


@router.post(
    "/api/v1/account/phone/verify",
    response_model=PhoneOut,
    responses=answers({400: "The code is wrong or has expired (`invalid_code`)."}),
)
async def verify_phone(
    body: PhoneCodeIn, request: Request, principal: UserOnly, session: SessionDep
) -> PhoneOut:
    """Verify the number with the code it received."""
    phone = await phones.verify(platform_of(request), session, principal.user_id, body.code)
    return PhoneOut(phone=phone, verified=True)


@router.delete("/api/v1/account/phone", status_code=204)
async def remove_phone(principal: UserOnly, session: SessionDep) -> Response:
    """Forget your phone number (no more SMS)."""
    await phones.remove(session, principal.user_id)
    return Response(status_code=204)
