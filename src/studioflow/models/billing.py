"""Plans: the limits a client lives within (API.md's table; editable by admins)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, utcnow


class Plan(IdMixin, TimestampMixin, Base):
    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(40), unique=True)
    uploads_per_day: Mapped[int]
    api_requests_per_hour: Mapped[int]
    storage_bytes: Mapped[int] = mapped_column(BigInteger)
    bandwidth_bytes_month: Mapped[int] = mapped_column(BigInteger)
    monthly_credits: Mapped[int]
    max_upload_bytes: Mapped[int] = mapped_column(BigInteger)
    max_pixels: Mapped[int] = mapped_column(BigInteger)


class CreditAccount(Base):
    """A client's credit balance. The database refuses a negative balance (not only Python)."""

    __tablename__ = "credit_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    balance: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CreditEvent(IdMixin, Base):
    """The ledger: every change of a balance, once (the idempotency key is unique)."""

    __tablename__ = "credit_events"
    # The dashboard and finances sum the ledger over a range of days, from the index alone
    # (the ledger is written once per entry and never updated).
    __table_args__ = (
        Index("ix_credit_events_created_at", "created_at", "reason", "delta", "client_id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    delta: Mapped[int]
    reason: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    balance_after: Mapped[int]
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditRequest(IdMixin, Base):
    """A workspace owner asks the platform admins for credits; an admin grants or declines.

    At most one request of a workspace is open (a partial unique index on both backends), so
    a double click or a retry cannot queue the same ask twice. Granting writes the ledger
    with the request's id as the key: granted once, whatever retries.
    """

    __tablename__ = "credit_requests"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('open', 'granted', 'declined')", name="status_known"),
        Index(
            "uq_credit_requests_one_open",
            "client_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    amount: Mapped[int]
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    granted: Mapped[int | None]
    answer: Mapped[str | None] = mapped_column(String(500))
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
