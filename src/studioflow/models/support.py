"""Support tickets (seed 000): a workspace asks the platform's admins for help in a thread."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type, utcnow


class TicketStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    waiting_on_client = "waiting_on_client"
    resolved = "resolved"
    closed = "closed"


class TicketPriority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketCategory(StrEnum):
    billing = "billing"
    workflow = "workflow"
    bug = "bug"
    other = "other"


class SupportTicket(IdMixin, TimestampMixin, Base):
    __tablename__ = "support_tickets"
    __table_args__ = (Index("ix_support_tickets_status_updated", "status", "updated_at"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200))
    category: Mapped[TicketCategory] = mapped_column(
        status_type(TicketCategory, name="category", length=12), default=TicketCategory.other
    )
    priority: Mapped[TicketPriority] = mapped_column(
        status_type(TicketPriority, name="priority", length=8), default=TicketPriority.normal
    )
    status: Mapped[TicketStatus] = mapped_column(
        status_type(TicketStatus, name="status", length=20), default=TicketStatus.open
    )
    execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workflow_executions.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class SupportMessage(IdMixin, Base):
    """One message of a ticket's thread. ``internal`` notes are the admins' alone: the
    workspace never sees them, in the API or on its pages."""

    __tablename__ = "support_messages"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Who wrote it, kept when the account goes; "staff" replies are the admins'.
    author_label: Mapped[str] = mapped_column(String(320))
    staff: Mapped[bool] = mapped_column(default=False)
    internal: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    image_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
