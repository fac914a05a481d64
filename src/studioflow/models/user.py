"""Accounts. The identity feature grows this table; the foundation needs it for the demo admin."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin


class PlatformRole(StrEnum):
    admin = "admin"
    user = "user"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    platform_role: Mapped[str] = mapped_column(String(16), default=PlatformRole.user.value)
    email_verified_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
