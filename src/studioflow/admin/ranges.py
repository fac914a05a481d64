"""The range of days a figure covers: ``?from=&to=`` as dates (UTC), both included; the
last 30 days when left out. At most ``MAX_DAYS``, so a query cannot be asked to read the
whole history at once by mistake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from studioflow.platform.errors import Unprocessable

DEFAULT_DAYS = 30
MAX_DAYS = 366
# The days a range may name: far enough either way for any real history, near enough that
# date arithmetic on them cannot leave the calendar (year 1 or 9999 answered 500).
EARLIEST = date(1970, 1, 1)
LATEST = date(9000, 12, 31)


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The moment after the last day (ranges are half-open)."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def day_range(
    first: date | None,
    last: date | None,
    *,
    span: int = DEFAULT_DAYS,
    today: date | None = None,
) -> DayRange:
    """``span`` days ending ``last`` (default today) unless ``first`` is given; 422
    ``invalid_range`` when ``from`` is after ``to``, the range is too long, or a day is
    outside 1970-9000."""
    for day in (first, last):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise Unprocessable(f"Days from {EARLIEST} to {LATEST} only.", code="invalid_range")
    last = last or (first + timedelta(days=span - 1) if first else None)
    last = last or (today or datetime.now(UTC).date())
    first = first or last - timedelta(days=span - 1)
    if first > last:
        raise Unprocessable("`from` is after `to`.", code="invalid_range")
    if (last - first).days + 1 > MAX_DAYS:
        raise Unprocessable(f"At most {MAX_DAYS} days at once.", code="invalid_range")
    return DayRange(first, last)
