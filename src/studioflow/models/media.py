"""Hosted images, their albums and their cached variants."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type, utcnow


class ImageSource(StrEnum):
    upload = "upload"
    generated = "generated"  # a studio result: not counted against uploads/day


class Album(IdMixin, TimestampMixin, Base):
    __tablename__ = "albums"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))


class Image(IdMixin, TimestampMixin, Base):
    __tablename__ = "images"
    __table_args__ = (
        # The same bytes are stored once per client.
        UniqueConstraint("client_id", "content_hash"),
        Index("ix_images_client_created", "client_id", "id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(10))
    mime_type: Mapped[str] = mapped_column(String(40))
    bytes: Mapped[int] = mapped_column(BigInteger)
    public_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int]
    height: Mapped[int]
    frames: Mapped[int] = mapped_column(default=1)
    has_alpha: Mapped[bool] = mapped_column(default=False)
    dominant_color: Mapped[str] = mapped_column(String(7))
    blurhash: Mapped[str | None] = mapped_column(String(64))
    is_public: Mapped[bool] = mapped_column(default=True)
    # The owner's per-image opt-in to deliver EXIF/GPS as uploaded.
    keep_metadata: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[ImageSource] = mapped_column(
        status_type(ImageSource, name="source", length=12),
        default=ImageSource.upload,
        server_default="upload",
    )
    original_key: Mapped[str] = mapped_column(String(300))
    public_key: Mapped[str] = mapped_column(String(300))


class AlbumImage(Base):
    """An image in an album: an image may be in several albums of its client, and an album
    holds many images (the image and the album are both the same client's; the service
    checks both through the client's scope)."""

    __tablename__ = "album_images"

    album_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImageVariant(IdMixin, Base):
    __tablename__ = "image_variants"
    __table_args__ = (UniqueConstraint("image_id", "spec"),)

    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    spec: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(10))
    bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UploadPurpose(StrEnum):
    image = "image"  # a hosted image (the gallery)
    reference = "reference"  # a studio reference: expires (seed 001's originals)
    video = "video"  # a reel's video (reels are not built yet: refused)


class UploadState(StrEnum):
    pending = "pending"
    completed = "completed"
    failed = "failed"


class PendingUpload(IdMixin, Base):
    """A direct upload (``POST /api/v1/uploads``): the client sends the bytes to a signed
    URL (S3's presigned PUT, or this app's on local storage) under ``storage_key``, then
    completes it, when the bytes are checked like any upload. Unfinished ones are deleted
    after the intermediates' TTL (seed 001)."""

    __tablename__ = "pending_uploads"
    __table_args__ = (Index("ix_pending_uploads_state_created", "state", "created_at"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    purpose: Mapped[UploadPurpose] = mapped_column(
        status_type(UploadPurpose, name="purpose", length=12)
    )
    state: Mapped[UploadState] = mapped_column(
        status_type(UploadState, name="state", length=12), default=UploadState.pending
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    # What the completed image goes into (the upload form's options).
    title: Mapped[str | None] = mapped_column(String(200))
    album_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("albums.id", ondelete="SET NULL"))
    is_public: Mapped[bool | None]
    image_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    error_code: Mapped[str | None] = mapped_column(String(60))
    url_expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
