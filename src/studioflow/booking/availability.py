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
from typing import TypeVar
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]  # [start, end) in UTC
Seconds = tuple[int, int]  # [start, end) in whole seconds since the epoch
T = TypeVar("T", datetime, int)


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
    return [
        (from_seconds(start), from_seconds(end))
        for start, end in _working_seconds(days, ranges, zone)
    ]


def _working_seconds(
    days: Iterable[date], ranges: Sequence[DayRange], zone: ZoneInfo
) -> list[Seconds]:
    windows = []
    for day in days:
        weekday = day.weekday()
        for r in ranges:
            if r.weekday == weekday:
                start = _wall_seconds(day, r.start_minute, zone)
                end = _wall_seconds(day, r.end_minute, zone)
                if end > start:
                    windows.append((start, end))
    return windows


@functools.lru_cache(maxsize=65536)  # a business's staff share their hours: made once
def _wall_seconds(day: date, minute: int, zone: ZoneInfo) -> int:
    return int(wall_to_utc(day, minute, zone).timestamp())


def merge(intervals: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    merged: list[tuple[T, T]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(windows: Sequence[tuple[T, T]], holes: Sequence[tuple[T, T]]) -> list[tuple[T, T]]:
    """``windows`` less every hole (both merged, sorted)."""
    result = []
    merged_holes = merge(holes)
    for start, end in merge(windows):
        cursor = start
        for hole_start, hole_end in merged_holes:
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
    length = int(duration.total_seconds())
    starts = free_starts(
        days=days,
        ranges=ranges,
        zone=zone,
        length=length,
        pause=int(buffer.total_seconds()),
        stride=int(step.total_seconds()),
        extra=[(_seconds(s), _seconds(e)) for s, e in extra],
        time_off=[(_seconds(s), _seconds(e)) for s, e in time_off],
        busy=[(_seconds(s), _seconds(e)) for s, e in busy],
        first=_seconds(earliest) if earliest is not None else None,
        last=_seconds(latest) if latest is not None else None,
    )
    return [(from_seconds(start), from_seconds(start + length)) for start in starts]


def free_starts(
    *,
    days: Sequence[date],
    ranges: Sequence[DayRange],
    zone: ZoneInfo,
    length: int,
    pause: int,
    stride: int,
    extra: Sequence[Seconds] = (),
    time_off: Sequence[Seconds] = (),
    busy: Sequence[Seconds] = (),
    first: int | None = None,
    last: int | None = None,
) -> list[int]:
    """:func:`free_slots` in whole seconds since the epoch, which is how availability reads
    the database: the starts of ``length``-second appointments, ``pause`` seconds of buffer
    after each, on a grid of ``stride`` seconds from each window's opening."""
    windows = subtract(_working_seconds(days, ranges, zone) + list(extra), time_off)
    # Windows and held times are sorted and starts only grow, so one pointer walks the
    # held times once: the first one still running at a start is the only one that can
    # clash (merged, the next begins after it ends). Between two held times every grid
    # point is free, taken as a whole range rather than start by start: a month of 20
    # people is ten thousand candidate starts but only a few hundred gaps (bench/README.md).
    held = merge(busy)
    starts: list[int] = []
    next_held, count = 0, len(held)
    for start, end in windows:
        if first is not None and start < first:
            start += -((start - first) // stride) * stride  # the first start on the grid
        stop = end - length  # the last start that still fits, inclusive
        if last is not None:
            stop = min(stop, last - 1)
        while start <= stop:
            while next_held < count and held[next_held][1] <= start:
                next_held += 1
            if next_held == count:
                starts.extend(range(start, stop + 1, stride))
                break
            held_start, held_end = held[next_held]
            free_until = min(stop, held_start - length - pause)  # ends, buffer included
            if free_until >= start:
                starts.extend(range(start, free_until + 1, stride))
                start += ((free_until - start) // stride + 1) * stride
            if start < held_end:  # clashes: on to the first grid point after it
                start += -((start - held_end) // stride) * stride
    return starts


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=16384)  # 20 people share their starts: made once each
def from_seconds(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


@functools.lru_cache(maxsize=65536)  # every visitor of a page asks for the same instants
def wall_text(seconds: int, zone: ZoneInfo) -> str:
    """The instant in ISO 8601 with ``zone``'s offset at that instant (what customers are
    shown: the business's wall time)."""
    return datetime.fromtimestamp(seconds, zone).isoformat()
