"""Slots across daylight-saving changes (issue 16): the days Europe/Berlin and
America/New_York change their clocks, night shifts over the change, a customer in another
zone, buffers, time off, extra hours, notice and horizon."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from studioflow.booking.availability import DayRange, free_slots, free_starts, wall_to_utc

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def every_day(start: int, end: int) -> list[DayRange]:
    return [DayRange(weekday, start * 60, end * 60) for weekday in range(7)]


def local(slots: list[tuple[datetime, datetime]], zone: ZoneInfo) -> list[str]:
    return [start.astimezone(zone).strftime("%H:%M%z") for start, _ in slots]


def test_a_day_shift_on_the_change_days_keeps_its_wall_times() -> None:
    for zone, day in (
        (BERLIN, date(2027, 3, 28)),  # spring forward
        (BERLIN, date(2027, 10, 31)),  # fall back
        (NEW_YORK, date(2027, 3, 14)),
        (NEW_YORK, date(2027, 11, 7)),
    ):
        slots = free_slots(
            days=[day],
            ranges=every_day(9, 17),
            zone=zone,
            duration=HOUR,
            buffer=timedelta(),
            step=HOUR,
        )
        wall = [s.astimezone(zone).strftime("%H:%M") for s, _ in slots]
        assert wall == [f"{h:02d}:00" for h in range(9, 17)], (zone, day)
        assert all(end - start == HOUR for start, end in slots)


def test_a_night_shift_over_the_change_is_as_long_as_the_clock_says() -> None:
    # Berlin, spring: 01:00-04:00 on the wall is two real hours (02:00-03:00 never happens).
    spring = free_slots(
        days=[date(2027, 3, 28)], ranges=every_day(1, 4), zone=BERLIN,
        duration=HOUR, buffer=timedelta(), step=HOUR,
    )  # fmt: skip
    assert local(spring, BERLIN) == ["01:00+0100", "03:00+0200"]
    # Berlin, autumn: four real hours, 02:00 shown twice with different offsets.
    autumn = free_slots(
        days=[date(2027, 10, 31)], ranges=every_day(1, 4), zone=BERLIN,
        duration=HOUR, buffer=timedelta(), step=HOUR,
    )  # fmt: skip
    assert local(autumn, BERLIN) == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]
    assert len({start for start, _ in autumn}) == 4  # four distinct instants
    # New York, spring: 02:00-03:00 skipped.
    ny = free_slots(
        days=[date(2027, 3, 14)], ranges=every_day(0, 4), zone=NEW_YORK,
        duration=HOUR, buffer=timedelta(), step=HOUR,
    )  # fmt: skip
    assert local(ny, NEW_YORK) == ["00:00-0500", "01:00-0500", "03:00-0400"]


def test_a_skipped_wall_time_is_read_after_the_jump() -> None:
    assert wall_to_utc(date(2027, 3, 28), 2 * 60 + 30, BERLIN) == datetime(
        2027, 3, 28, 1, 30, tzinfo=UTC
    )  # 03:30 CEST
    assert wall_to_utc(date(2027, 10, 31), 2 * 60 + 30, BERLIN) == datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC
    )  # the first 02:30, CEST
    assert wall_to_utc(date(2027, 3, 28), 24 * 60, BERLIN) == datetime(
        2027, 3, 28, 22, 0, tzinfo=UTC
    )  # 24:00 is the next midnight, in summer time


def test_a_customer_in_another_zone_sees_the_same_instants() -> None:
    slots = free_slots(
        days=[date(2027, 3, 22)], ranges=every_day(9, 11), zone=BERLIN,
        duration=HOUR, buffer=timedelta(), step=HOUR,
    )  # fmt: skip
    # Between the two changes (New York moved on 14 March, Berlin on 28 March): 5 hours.
    assert local(slots, NEW_YORK) == ["04:00-0400", "05:00-0400"]
    assert local(slots, BERLIN) == ["09:00+0100", "10:00+0100"]


def test_buffers_appointments_time_off_extra_hours_notice_and_horizon() -> None:
    day = date(2027, 6, 7)  # a Monday, CEST
    opening = datetime(2027, 6, 7, 7, 0, tzinfo=UTC)  # 09:00 local
    ranges = [DayRange(0, 9 * 60, 13 * 60)]
    busy = [(opening + HOUR, opening + HOUR + timedelta(minutes=75))]  # 10:00-11:15 held
    slots = free_slots(
        days=[day], ranges=ranges, zone=BERLIN, duration=HOUR,
        buffer=timedelta(minutes=15), step=timedelta(minutes=30), busy=busy,
    )  # fmt: skip
    # 09:00 would run its buffer into 10:00; from 11:15 on, the grid's 11:30 and 12:00.
    assert local(slots, BERLIN) == ["11:30+0200", "12:00+0200"]
    closed = free_slots(
        days=[day], ranges=ranges, zone=BERLIN, duration=HOUR, buffer=timedelta(),
        step=HOUR, time_off=[(opening, opening + 3 * HOUR)],
        extra=[(opening + 6 * HOUR, opening + 7 * HOUR)],
    )  # fmt: skip
    assert local(closed, BERLIN) == ["12:00+0200", "15:00+0200"]
    bounded = free_slots(
        days=[day], ranges=ranges, zone=BERLIN, duration=HOUR, buffer=timedelta(),
        step=HOUR, earliest=opening + HOUR, latest=opening + 3 * HOUR,
    )  # fmt: skip
    assert local(bounded, BERLIN) == ["10:00+0200", "11:00+0200"]


def test_the_gap_walk_finds_exactly_the_starts_a_check_of_every_start_finds() -> None:
    """free_starts takes each gap between held times as a whole range of starts; checking
    every grid point against every held time, one by one, must give the same starts."""
    rng = random.Random(16)
    day = date(2027, 3, 28)  # Berlin springs forward: a 23-hour day in the walk
    for _ in range(300):
        length = rng.choice([15, 30, 45, 60, 90]) * 60
        pause = rng.choice([0, 5, 15, 30]) * 60
        stride = rng.choice([5, 15, 30]) * 60
        ranges = [DayRange(day.weekday(), 0, 1440)]
        opening = int(wall_to_utc(day, 0, BERLIN).timestamp())
        closing = int(wall_to_utc(day, 1440, BERLIN).timestamp())
        busy = []
        for _ in range(rng.randrange(0, 8)):
            start = opening + rng.randrange(-7200, 23 * 3600)
            busy.append((start, start + rng.randrange(60, 4 * 3600)))
        first = opening + rng.randrange(0, 6 * 3600) if rng.random() < 0.5 else None
        last = opening + rng.randrange(12 * 3600, 24 * 3600) if rng.random() < 0.5 else None
        found = free_starts(
            days=[day], ranges=ranges, zone=BERLIN, length=length, pause=pause,
            stride=stride, busy=busy, first=first, last=last,
        )  # fmt: skip
        expected = [
            s
            for s in range(opening, closing - length + 1, stride)
            if (first is None or s >= first)
            and (last is None or s < last)
            and all(e <= s or b >= s + length + pause for b, e in busy)
        ]
        assert found == expected, (length, pause, stride, busy, first, last)
