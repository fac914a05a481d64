"""Feature flags (seed 001): what code may switch on and off without a deploy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, utcnow


class FeatureFlag(Base):
    """One flag. Seeded from code (``platform/flags.py``) when missing, never overwritten:
    once an admin changes it, their values stand."""

    __tablename__ = "feature_flags"
    __table_args__ = (
        CheckConstraint(
            "rollout_percent >= 0 AND rollout_percent <= 100", name="rollout_percent_range"
        ),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(String(300), default="")
    # Listed by GET /api/v1/flags for anyone (the web pages and clients read them).
    public: Mapped[bool] = mapped_column(default=False)
    # The share of users who get it, by a stable hash of the flag and the user.
    rollout_percent: Mapped[int] = mapped_column(default=100)
    # Workspaces that get it whatever the rollout (ids as strings).
    client_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PlatformSetting(Base):
    """One platform setting an admin changed (``platform/site_settings.py`` declares them and
    their defaults; a key without a row has its default). Secrets (provider keys) are stored
    AES-GCM encrypted, as a client's are."""

    __tablename__ = "platform_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # {"value": ...}: one JSON shape for every kind (a bare JSON null is awkward on SQLite).
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
