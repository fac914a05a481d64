"""Request and response models of the notifications API (API.md, "Notifications")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from studioflow.platform.schemas import Input


class NotificationOut(BaseModel):
    id: uuid.UUID
    event: str
    title: str
    body: str
    link: str | None
    read_at: dt.datetime | None
    created_at: dt.datetime


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    unread: int
    next_cursor: str | None = None


class ChannelChoice(Input):
    email: bool | None = None
    sms: bool | None = None
    push: bool | None = None


class PreferencesIn(Input):
    events: dict[str, ChannelChoice] = Field(
        max_length=50,
        description='{"appointment.reminder": {"email": true, "sms": false, "push": true}}; '
        "channels left out keep their value.",
    )


class PreferencesOut(BaseModel):
    events: dict[str, dict[str, bool]]
    labels: dict[str, str]
    locked: dict[str, list[str]] = Field(description="Channels that cannot be turned off.")


class DeviceIn(Input):
    platform: Literal["web", "android", "ios"]
    token: str = Field(
        min_length=1,
        max_length=4096,
        description="web: the PushSubscription's JSON; android/ios: the FCM registration token.",
    )


class DeviceOut(BaseModel):
    id: uuid.UUID
    platform: str
    created_at: dt.datetime
    last_sent_at: dt.datetime | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None


class PhoneIn(Input):
    phone: str = Field(min_length=3, max_length=32, examples=["+4915112345678"])


class PhoneCodeIn(Input):
    code: str = Field(min_length=1, max_length=12)


class PhoneOut(BaseModel):
    phone: str | None
    verified: bool
