"""Notifications (seed 003's Notification Module): what a user is told, on which channel, and
whether it went out.

``notifications`` are the in-app ones (the bell in the shell). ``notification_deliveries``
are the outgoing messages (email, SMS, push): one row per user, event and channel, unique by
the event's dedupe key, so the same event is sent once however often it is raised (a retried
job, two workers running the reminder cron). Their content is sealed (AES-GCM) because an
email may carry a single-use link; only the sending job opens it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, status_type, utcnow


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    push = "push"


class DeliveryStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    # Nowhere to send it (no verified phone, no device): recorded, not retried.
    skipped = "skipped"


class DevicePlatform(StrEnum):
    web = "web"
    android = "android"
    ios = "ios"


class Notification(IdMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "dedupe_key"),
        Index("ix_notifications_user_unread", "user_id", "read_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(60))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(1000), default="")
    link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class NotificationDelivery(IdMixin, Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("user_id", "dedupe_key", "channel"),
        Index("ix_notification_deliveries_status", "status", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(60))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[Channel] = mapped_column(status_type(Channel, name="channel", length=8))
    status: Mapped[DeliveryStatus] = mapped_column(
        status_type(DeliveryStatus, name="status", length=8), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # A stable code of the last failure (``invalid_number``, ``unregistered``), never content.
    error: Mapped[str | None] = mapped_column(String(200))
    # The message, sealed under a key derived from the secret (platform.security).
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """A user's choice for one event on one channel; no row: the event's default."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    event: Mapped[str] = mapped_column(String(60), primary_key=True)
    channel: Mapped[Channel] = mapped_column(
        status_type(Channel, name="channel", length=8), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean)


class PushDevice(IdMixin, Base):
    """A browser's Web Push subscription or an app's FCM registration token. A device the
    push service reports gone (404/410, FCM ``UNREGISTERED``) is disabled, not retried."""

    __tablename__ = "push_devices"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[DevicePlatform] = mapped_column(
        status_type(DevicePlatform, name="platform", length=8)
    )
    token: Mapped[str] = mapped_column(Text)
    # sha256 of the token: one row per device however often the app registers it.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(60))
