"""Free slots of a staff member: working hours are wall-clock times in the business's zone,
everything else is an instant in UTC.

Each day's ranges are turned into instants with the zone's rules for *that* day, so a
working day on which the clocks change is as long as the clock says it is (09:00-17:00 is
eight hours either way; a night shift over the change is one hour shorter or longer), and a
wall time the clocks skip is taken as the instant the clock reads it after the jump. From
those windows (plus extra hours, less time off) the appointments already held are taken out
with their buffers; a slot is a start on the window's grid where the service fits before
the window closes and its buffer does not reach the next appointment. Customers anywhere
get the same instants; pages show them in the business's zone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]  # [start, end) in UTC


@dataclass(frozen=True)
class DayRange:
    """One working range of a weekday (Monday 0), minutes after local midnight."""

    weekday: int
    start_minute: int
    end_minute: int


def wall_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The instant the clock in ``zone`` reads ``minute`` after midnight of ``day``. A time
    the clocks skip (spring forward) reads as the same distance past the jump; a time they
    show twice (fall back) is its first showing; 24:00 is the next midnight."""
    extra, minute = divmod(minute, 1440)
    local = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60))
    # fold=0 (PEP 495): a skipped time takes the offset from before the jump, which is the
    # instant the clock reads it after the jump; a repeated time its first showing.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def working_windows(
    days: Iterable[date], ranges: Sequence[DayRange], zone: ZoneInfo
) -> list[Interval]:
    windows = []
    for day in days:
        for r in ranges:
            if r.weekday == day.weekday():
                start = wall_to_utc(day, r.start_minute, zone)
                end = wall_to_utc(day, r.end_minute, zone)
                if end > start:
                    windows.append((start, end))
    return windows


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(windows: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """``windows`` less every hole (both merged, sorted)."""
    result = []
    for start, end in merge(windows):
        cursor = start
        for hole_start, hole_end in merge(holes):
            if hole_end <= cursor or hole_start >= end:
                continue
            if hole_start > cursor:
                result.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < end:
            result.append((cursor, end))
    return result


def free_slots(
    *,
    days: Sequence[date],
    ranges: Sequence[DayRange],
    zone: ZoneInfo,
    duration: timedelta,
    buffer: timedelta,
    step: timedelta,
    extra: Sequence[Interval] = (),
    time_off: Sequence[Interval] = (),
    busy: Sequence[Interval] = (),
    earliest: datetime | None = None,
    latest: datetime | None = None,
) -> list[Interval]:
    """The appointments ``[start, start + duration)`` one staff member can take. ``busy``:
    the open appointments' ``[starts_at, blocked_until)``; ``earliest`` (now plus the
    notice) and ``latest`` (the horizon) bound the starts."""
    windows = subtract(working_windows(days, ranges, zone) + list(extra), time_off)
    # The walk is in whole seconds since the epoch: a month of 20 people is ten thousands of
    # candidate starts, and datetime arithmetic per candidate was most of the time
    # (bench/README.md). Windows and held times are sorted and starts only grow, so one
    # pointer walks the held times once: the first one still running at a start is the only
    # one that can clash (merged, the next begins after it ends).
    held = [(_seconds(s), _seconds(e)) for s, e in merge(busy)]
    length, pause, stride = (int(d.total_seconds()) for d in (duration, buffer, step))
    first = _seconds(earliest) if earliest is not None else None
    last = _seconds(latest) if latest is not None else None
    slots = []
    next_held = 0
    for window_start, window_end in windows:
        start, end = _seconds(window_start), _seconds(window_end)
        while start + length <= end:
            while next_held < len(held) and held[next_held][1] <= start:
                next_held += 1
            clashes = next_held < len(held) and held[next_held][0] < start + length + pause
            if not clashes and (first is None or start >= first) and (last is None or start < last):
                slots.append((_instant(start), _instant(start + length)))
            start += stride
    return slots


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=16384)  # 20 people share their starts: made once each
def _instant(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)
