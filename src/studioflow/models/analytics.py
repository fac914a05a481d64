"""Image views: raw events (pruned after the retention period) and daily roll-ups."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin


class ImageView(IdMixin, Base):
    __tablename__ = "image_views"
    __table_args__ = (Index("ix_image_views_image_time", "image_id", "viewed_at"),)

    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    viewed_at: Mapped[datetime] = mapped_column(index=True)
    variant: Mapped[str] = mapped_column(String(60))
    referrer: Mapped[str | None] = mapped_column(String(253))
    device: Mapped[str] = mapped_column(String(10))
    browser: Mapped[str] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    # HMAC of the address under a key that changes every day: counts unique viewers per day
    # without keeping an address.
    visitor: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)


class ImageDaily(IdMixin, Base):
    __tablename__ = "image_daily"
    __table_args__ = (UniqueConstraint("image_id", "day"),)

    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    unique_viewers: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageDaily(IdMixin, Base):
    """Per client and day (the hosting seed's ``user_usage``; a user's is their personal client)."""

    __tablename__ = "user_usage"
    __table_args__ = (UniqueConstraint("client_id", "day"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    uploads: Mapped[int] = mapped_column(default=0)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    bandwidth_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
