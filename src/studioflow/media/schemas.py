"""Request and response models of the images API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from studioflow.models.base import BIGINT_MAX
from studioflow.platform.schemas import Input, Moment


class ImageMetadata(BaseModel):
    width: int
    height: int
    size: int
    format: str


class SeedImage(BaseModel):
    """The hosting seed's upload answer shape (kept for its clients)."""

    id: uuid.UUID
    filename: str
    url: str
    thumbnail: str
    view_url: str
    metadata: ImageMetadata


class SeedUploadOut(BaseModel):
    success: bool = True
    duplicate: bool = False
    image: SeedImage


class ImageRead(BaseModel):
    id: uuid.UUID
    filename: str
    title: str | None
    # The album it was put in first (the one-album form older clients read), and all of them.
    album_id: uuid.UUID | None
    album_ids: list[uuid.UUID] = []
    format: str
    mime_type: str
    bytes: int
    width: int
    height: int
    frames: int
    has_alpha: bool
    dominant_color: str
    blurhash: str | None
    is_public: bool
    keep_metadata: bool
    expires_at: datetime | None
    views: int
    url: str
    thumbnail_url: str
    # For private images: a signed link valid for an hour.
    signed_url: str | None = None
    created_at: datetime
    duplicate: bool = False


class ImageUpdate(Input):
    title: str | None = Field(default=None, max_length=200)
    is_public: bool | None = None
    # In this one album alone (null: in none); or ``album_ids``, the whole set. Not both.
    album_id: uuid.UUID | None = None
    album_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    expires_at: Moment | None = None
    keep_metadata: bool | None = None

    @field_validator("is_public", "keep_metadata")
    @classmethod
    def _true_or_false(cls, value: bool | None) -> bool:
        # Left out means unchanged; null would clear a flag that has no "unset" state.
        if value is None:
            raise ValueError("must be true or false (leave it out to keep it)")
        return value


class QuotaOut(BaseModel):
    plan: str
    uploads_today: int
    upload_limit_per_day: int
    storage_used: int
    storage_limit: int
    bandwidth_used_month: int
    bandwidth_limit: int
    api_requests_this_hour: int
    api_request_limit: int


class AlbumIn(Input):
    title: str = Field(min_length=1, max_length=200)


class AlbumUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=200)


class AlbumOut(BaseModel):
    id: uuid.UUID
    title: str
    images: int
    created_at: datetime


class AlbumImagesIn(Input):
    # At least one: checked after the album is found, so another workspace's album is a 404
    # whatever the body says.
    image_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)


class AlbumImagesOut(BaseModel):
    album: AlbumOut
    # How many this request put in (or took out); the others were already so.
    changed: int


class InfoOut(BaseModel):
    id: uuid.UUID
    filename: str
    size: int
    dimensions: dict[str, int]
    mime_type: str
    views: int
    uploaded_at: datetime


class DayStats(BaseModel):
    day: str
    views: int
    unique_viewers: int
    bytes: int


class NamedCount(BaseModel):
    name: str
    views: int


class StatsOut(BaseModel):
    image_id: uuid.UUID
    views: int
    unique_viewers: int
    per_day: list[DayStats]
    referrers: list[NamedCount]
    devices: list[NamedCount]
    browsers: list[NamedCount]
    countries: list[NamedCount]
    days: int


class TransformIn(Input):
    width: int | None = None
    height: int | None = None
    fit: str | None = None
    quality: int | None = None
    format: str | None = None


class TransformOut(BaseModel):
    url: str
    expires_at: datetime | None


class KnownIn(Input):
    hashes: list[str]


class KnownOut(BaseModel):
    known: dict[str, uuid.UUID]


class ArchiveIn(Input):
    image_ids: list[uuid.UUID] = Field(min_length=1, max_length=200)


class DirectUploadIn(Input):
    """What the client is about to send (``POST /api/v1/uploads``)."""

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    bytes: int = Field(ge=1, le=BIGINT_MAX)
    purpose: Literal["image", "reference", "video"] = "image"
    title: str | None = Field(default=None, max_length=200)
    album_id: uuid.UUID | None = None
    is_public: bool | None = None


class DirectUploadOut(BaseModel):
    upload_id: uuid.UUID
    upload_url: str = Field(description="PUT the bytes here, with `headers`, before expires_at.")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: datetime
