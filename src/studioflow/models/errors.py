"""Unexpected errors the server answered with 500, kept 30 days for the admins' errors page."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, utcnow


class ErrorEvent(IdMixin, Base):
    """One unexpected 500: where and what kind, never a body, a message or a query string
    (they may hold what a user typed or a token)."""

    __tablename__ = "error_events"

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    # The route's template (/api/v1/images/{image_id}), else the bare path.
    route: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(default=500)
    code: Mapped[str] = mapped_column(String(60), default="internal_error")
    error_type: Mapped[str] = mapped_column(String(120))
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
