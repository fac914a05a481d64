"""Appointment booking (seeds 003 and 002): a business is a client with a booking profile;
its staff have weekly hours and dated exceptions; services belong to categories; an
appointment holds one staff member's time.

No double booking is the database's guarantee, on both backends: an appointment that is
``pending`` or ``confirmed`` blocks ``[starts_at, blocked_until)`` of its staff member
(``blocked_until`` is the end plus the service's buffer). PostgreSQL: an exclusion
constraint over (staff, time range) for open appointments; SQLite: triggers that abort an
overlapping insert or update. Both are in the migration (2026-12-07-1430_booking.py): the
model cannot declare either portably.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type


class AppointmentStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    completed = "completed"
    no_show = "no_show"
    cancelled = "cancelled"


# The states that hold the staff member's time (the constraint's WHERE clause says the same).
OPEN_APPOINTMENT = (AppointmentStatus.pending, AppointmentStatus.confirmed)

# The longest a service and its buffer may be: availability reads held times from
# (window start - both) on, which keeps its index search short.
MAX_SERVICE_MINUTES = 24 * 60
MAX_BUFFER_MINUTES = 8 * 60


class ExceptionKind(StrEnum):
    time_off = "time_off"
    extra_hours = "extra_hours"


class BookingProfile(TimestampMixin, Base):
    """What a client shows as a business: one per client."""

    __tablename__ = "booking_profiles"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))  # IANA, e.g. Europe/Berlin
    currency: Mapped[str] = mapped_column(String(3))
    auto_confirm: Mapped[bool] = mapped_column(default=True)
    cancellation_notice_hours: Mapped[int] = mapped_column(default=24)
    horizon_days: Mapped[int] = mapped_column(default=60)
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class StaffMember(IdMixin, TimestampMixin, Base):
    """A member of the client who takes appointments (an artist)."""

    __tablename__ = "booking_staff"
    __table_args__ = (UniqueConstraint("client_id", "user_id"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(120))
    bio: Mapped[str] = mapped_column(String(2000), default="")
    avatar_image_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL")
    )
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    is_active: Mapped[bool] = mapped_column(default=True)


class WorkingHours(IdMixin, Base):
    """One range of a weekday (Monday 0), in minutes after the business's local midnight."""

    __tablename__ = "booking_working_hours"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute",
            name="minutes_range",
        ),
    )

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("booking_staff.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int]
    start_minute: Mapped[int]
    end_minute: Mapped[int]


class StaffException(IdMixin, Base):
    """Time off, or extra hours, between two moments."""

    __tablename__ = "booking_exceptions"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("booking_staff.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ExceptionKind] = mapped_column(status_type(ExceptionKind, name="kind", length=12))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(300), default="")


class ServiceCategory(IdMixin, TimestampMixin, Base):
    __tablename__ = "service_categories"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(1000), default="")
    position: Mapped[int] = mapped_column(default=0)


class Service(IdMixin, TimestampMixin, Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        CheckConstraint("buffer_minutes >= 0", name="buffer_not_negative"),
        CheckConstraint(
            "deposit_minor IS NULL OR (deposit_minor > 0 AND deposit_minor <= price_minor)",
            name="deposit_within_price",
        ),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service_categories.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(2000), default="")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    duration_minutes: Mapped[int]
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    image_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Paid at booking (issue 17), in the service's currency: the appointment stays pending
    # until it is. None: nothing is due. The migration's CHECK keeps it within the price.
    deposit_minor: Mapped[int | None] = mapped_column(BigInteger)


class StaffService(Base):
    """Which staff member performs which service."""

    __tablename__ = "booking_staff_services"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("booking_staff.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Appointment(IdMixin, TimestampMixin, Base):
    """A customer's hold on a staff member's time. ``local_date`` and ``local_time`` are the
    seed's date and time: the wall time in the business's zone when it was booked."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("blocked_until >= ends_at", name="buffer_after_end"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        # Availability reads a stretch of a staff member's held times: with the end and the
        # status in the index it never visits the table (bench/README.md, "Booking").
        Index("ix_appointments_staff_held", "staff_id", "starts_at", "blocked_until", "status"),
        Index("ix_appointments_client_starts", "client_id", "starts_at"),
        Index("ix_appointments_customer", "customer_id", "starts_at"),
        # The reminder cron reads what starts in the next day, across businesses.
        Index("ix_appointments_starts_at", "starts_at"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("booking_staff.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL")
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[AppointmentStatus] = mapped_column(
        status_type(AppointmentStatus, name="status", length=12)
    )
    local_date: Mapped[date] = mapped_column(Date)
    local_time: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    blocked_until: Mapped[datetime]
    service_name: Mapped[str] = mapped_column(String(120))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    notes: Mapped[str] = mapped_column(Text, default="")
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The .ics SEQUENCE: one more on every change the customer's calendar must take.
    sequence: Mapped[int] = mapped_column(default=0)
    # The deposit's payment, when the service asked for one (issue 17). Not a foreign key:
    # adding one on SQLite takes a table rebuild, which drops the no-double-booking
    # triggers; payments are never deleted, so the reference cannot dangle.
    payment_id: Mapped[uuid.UUID | None]


class AppointmentReminder(Base):
    """That the reminder of a lead (``24h``, ``2h``) was handled for an appointment at this
    start: the reminder cron reads only appointments without one, so each run's work is
    what is new, however many appointments the window holds, and concurrent runs claim a
    reminder by inserting its row (a moved appointment is reminded of its new time)."""

    __tablename__ = "appointment_reminders"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), primary_key=True
    )
    lead: Mapped[str] = mapped_column(String(8), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
