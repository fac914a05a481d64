"""Request and response models of the booking API (API.md, "Booking")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from studioflow.models.booking import MAX_BUFFER_MINUTES, MAX_SERVICE_MINUTES
from studioflow.payments.schemas import PaymentOut
from studioflow.platform.schemas import Input, Money

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$"
CLOCK = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class Location(Input):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class ProfileIn(Input):
    slug: str = Field(pattern=SLUG, description="The public page is /book/{slug}.")
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(min_length=1, max_length=64, description="IANA, e.g. Europe/Berlin")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    auto_confirm: bool = True
    cancellation_notice_hours: int = Field(default=24, ge=0, le=720)
    horizon_days: int = Field(default=60, ge=1, le=365)
    address: str = Field(default="", max_length=300)
    location: Location | None = None


class ProfileOut(BaseModel):
    slug: str
    name: str
    timezone: str
    currency: str
    auto_confirm: bool
    cancellation_notice_hours: int
    horizon_days: int
    address: str
    location: Location | None


class CategoryIn(Input):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    position: int = Field(default=0, ge=0, le=10_000)


class CategoryPatch(Input):
    """The values to change (left out: kept)."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    position: int | None = Field(default=None, ge=0, le=10_000)


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    position: int


class ServiceIn(Input):
    category_id: uuid.UUID | None = None
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    price: Money
    duration_minutes: int = Field(ge=5, le=MAX_SERVICE_MINUTES)
    buffer_minutes: int = Field(default=0, ge=0, le=MAX_BUFFER_MINUTES)
    image_id: uuid.UUID | None = None
    staff_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    is_active: bool = True
    deposit: Money | None = Field(
        default=None, description="Paid at booking (at most the price); the rest at the visit."
    )


class ServicePatch(Input):
    """The values to change (left out: kept; ``category_id``/``image_id`` null: none)."""

    category_id: uuid.UUID | None = None
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    price: Money | None = None
    duration_minutes: int | None = Field(default=None, ge=5, le=MAX_SERVICE_MINUTES)
    buffer_minutes: int | None = Field(default=None, ge=0, le=MAX_BUFFER_MINUTES)
    image_id: uuid.UUID | None = None
    staff_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    deposit: Money | None = Field(default=None, description="null: no deposit.")


class ServiceOut(BaseModel):
    id: uuid.UUID
    category_id: uuid.UUID | None
    name: str
    description: str
    price: Money
    duration_minutes: int
    buffer_minutes: int
    image_id: uuid.UUID | None
    staff_ids: list[uuid.UUID]
    is_active: bool
    deposit: Money | None = None


class StaffIn(Input):
    user_id: uuid.UUID = Field(description="A member of the business.")
    display_name: str = Field(min_length=1, max_length=120)
    bio: str = Field(default="", max_length=2000)
    avatar_image_id: uuid.UUID | None = None
    service_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    location: Location | None = None
    is_active: bool = True


class StaffPatch(Input):
    """The values to change (left out: kept; the user stays the same)."""

    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    bio: str | None = Field(default=None, max_length=2000)
    avatar_image_id: uuid.UUID | None = None
    service_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    location: Location | None = None
    is_active: bool | None = None


class HoursIn(Input):
    weekday: int = Field(ge=0, le=6, description="Monday 0 … Sunday 6")
    start: str = Field(pattern=CLOCK, examples=["09:00"])
    end: str = Field(pattern=CLOCK, examples=["17:00"])


class StaffOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    bio: str
    avatar_image_id: uuid.UUID | None
    service_ids: list[uuid.UUID]
    location: Location | None
    is_active: bool
    hours: list[HoursIn]


class ExceptionIn(Input):
    # Required, but checked after the staff member is found: another's id answers 404 first.
    starts_at: AwareDatetime | None = Field(default=None, description="Required.")
    ends_at: AwareDatetime | None = Field(default=None, description="Required, after starts_at.")
    kind: Literal["time_off", "extra_hours"] = "time_off"
    reason: str = Field(default="", max_length=300)


class ExceptionOut(BaseModel):
    id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    kind: str
    reason: str


class Slot(BaseModel):
    start: dt.datetime = Field(description="ISO 8601 with the business's offset.")
    end: dt.datetime
    staff_id: uuid.UUID


class AvailabilityOut(BaseModel):
    timezone: str
    slots: list[Slot]


class PublicBusinessOut(BaseModel):
    profile: ProfileOut
    categories: list[CategoryOut]
    services: list[ServiceOut]
    staff: list[StaffOut]


class AppointmentIn(Input):
    service_id: uuid.UUID
    start: AwareDatetime
    staff_id: uuid.UUID | None = Field(default=None, description="Left out: anyone free.")
    notes: str = Field(default="", max_length=2000)
    pay_with: Literal["card", "wallet"] = Field(
        default="card", description="How a service's deposit is paid (ignored without one)."
    )


class AppointmentOut(BaseModel):
    id: uuid.UUID
    status: str
    date: dt.date
    time: str
    start: dt.datetime
    end: dt.datetime
    timezone: str
    staff_id: uuid.UUID
    service_id: uuid.UUID | None
    price: Money
    payment_id: uuid.UUID | None = Field(default=None, description="The deposit's payment.")
    payment: PaymentOut | None = Field(
        default=None, description="On booking a service with a deposit: the payment to make."
    )


class CancelIn(Input):
    reason: str | None = Field(default=None, max_length=500)


class RescheduleIn(Input):
    # Required, but checked after the appointment is found: another's id answers 404 first.
    start: AwareDatetime | None = Field(default=None, description="Required: the new start.")
    staff_id: uuid.UUID | None = Field(default=None, description="Left out: the same person.")


class ManageIn(Input):
    # Optional in the model so that any wrong link answers the same 404 (checked first).
    token: str = Field(default="", max_length=200, description="From the emailed link.")
    action: Literal["cancel", "reschedule"] = "cancel"
    reason: str | None = Field(default=None, max_length=500)
    start: AwareDatetime | None = Field(default=None, description="reschedule: the new start")


class ArtistService(BaseModel):
    id: uuid.UUID
    name: str
    price: Money
    duration_minutes: int


class ArtistBusiness(BaseModel):
    slug: str
    name: str
    address: str


class ArtistOut(BaseModel):
    staff_id: uuid.UUID
    display_name: str
    bio: str
    distance_km: float
    business: ArtistBusiness
    services: list[ArtistService]


class ArtistsOut(BaseModel):
    items: list[ArtistOut]
