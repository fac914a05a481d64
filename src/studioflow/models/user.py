"""Accounts and what authenticates them: sessions, refresh tokens, codes, links, OAuth."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type, utcnow


class PlatformRole(StrEnum):
    admin = "admin"
    user = "user"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    # The dashboard counts the accounts created in a range.
    __table_args__ = (Index("ix_users_created_at", "created_at"),)

    # The address as the user typed it (lower-cased); mail goes here.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Look-alike-proof form (see identity.emails.canonical_email): two accounts may not share it.
    email_canonical: Mapped[str | None] = mapped_column(String(320), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    platform_role: Mapped[PlatformRole] = mapped_column(
        status_type(PlatformRole, name="platform_role", length=16), default=PlatformRole.user
    )
    email_verified_at: Mapped[datetime | None]
    # E.164, set only once verified by a code sent to it (notifications/phones.py).
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_verified_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    delete_requested_at: Mapped[datetime | None]
    delete_after: Mapped[datetime | None]


class AuthSession(IdMixin, Base):
    """One sign-in: the family of every refresh token rotated from it."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(20), default="password")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class RefreshToken(IdMixin, Base):
    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the token is exchanged for a new one; presenting it again later is reuse.
    rotated_at: Mapped[datetime | None]


class OneTimeCode(IdMixin, Base):
    """A short emailed code (email verification), bound to its purpose. A sign-up code also
    carries its registration (password hash, profile): verifying with it sets those, so the
    address owner confirms their own registration, not an earlier stranger's."""

    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_user_purpose", "user_id", "purpose"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(30))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ActionToken(IdMixin, Base):
    """A long single-use secret sent by email: magic link, password reset, export download."""

    __tablename__ = "action_tokens"

    purpose: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OAuthIdentity(IdMixin, Base):
    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
