"""The range of days a figure covers: ``?from=&to=`` as dates (UTC), both included; the
last 30 days when left out. At most ``MAX_DAYS``, so a query cannot be asked to read the
whole history at once by mistake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from studioflow.platform.errors import Unprocessable

DEFAULT_DAYS = 30
MAX_DAYS = 366


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
    ``invalid_range`` when ``from`` is after ``to`` or the range is too long."""
    last = last or (first + timedelta(days=span - 1) if first else None)
    last = last or (today or datetime.now(UTC).date())
    first = first or last - timedelta(days=span - 1)
    if first > last:
        raise Unprocessable("`from` is after `to`.", code="invalid_range")
    if (last - first).days + 1 > MAX_DAYS:
        raise Unprocessable(f"At most {MAX_DAYS} days at once.", code="invalid_range")
    return DayRange(first, last)
