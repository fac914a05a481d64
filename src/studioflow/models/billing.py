"""Plans: the limits a client lives within (API.md's table; editable by admins)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin


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
