"""Working-time arithmetic by example: weekends, midnight-spanning shifts, DST, days off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.worktime import (
    MAX_DAYS,
    Calendar,
    WarehouseCalendars,
    is_open,
    last_closing,
    next_opening,
    overlapping_ranges,
    working_seconds_left,
    working_time,
    working_time_before,
)

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)

OFFICE = Calendar("office", MOSCOW)  # mon-fri 09:00-18:00
NIGHTS = Calendar("nights", BERLIN, hours=((time(22), time(6)),), workdays=frozenset(range(7)))


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MOSCOW)  # type: ignore[misc]


def ber(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


# 2026-05-01 is a Friday, 2026-05-04 a Monday.
@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (msk(2026, 5, 1, 17), msk(2026, 5, 4, 10), 2 * H),
        (msk(2026, 5, 1, 19), msk(2026, 5, 4, 10), 1 * H),
        (msk(2026, 5, 1, 19), msk(2026, 5, 4, 9), timedelta(0)),
        (msk(2026, 5, 2, 0), msk(2026, 5, 3, 23), timedelta(0)),
        (msk(2026, 5, 4, 0), msk(2026, 5, 11, 0), 45 * H),
        (msk(2026, 5, 4, 10, 30), msk(2026, 5, 4, 10, 45), timedelta(minutes=15)),
        (msk(2026, 5, 4, 12), msk(2026, 5, 4, 11), timedelta(0)),
    ],
    ids=[
        "friday-17h-to-monday-10h",
        "friday-evening-to-monday-10h-one-hour",
        "friday-evening-to-monday-opening-none",
        "inside-the-weekend",
        "a-whole-week",
        "inside-one-span",
        "end-before-start",
    ],
)
def test_working_time_counts_only_the_open_hours(
    start: datetime, end: datetime, expected: timedelta
) -> None:
    assert working_time(OFFICE, start, end) == expected


def test_a_deadline_on_monday_morning_loses_the_weekend() -> None:
    deadline = msk(2026, 5, 4, 10)
    assert working_seconds_left(OFFICE, msk(2026, 5, 1, 20), deadline) == 3600
    assert last_closing(OFFICE, deadline) == deadline.astimezone(UTC)  # open right before it
    assert last_closing(OFFICE, msk(2026, 5, 4, 9)) == msk(2026, 5, 1, 18).astimezone(UTC)
    assert next_opening(OFFICE, msk(2026, 5, 1, 18)) == msk(2026, 5, 4, 9).astimezone(UTC)
    assert next_opening(OFFICE, msk(2026, 5, 4, 9, 30)) == msk(2026, 5, 4, 9, 30).astimezone(UTC)
    assert working_seconds_left(OFFICE, msk(2026, 5, 4, 11), deadline) == 0


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (timedelta(0), msk(2026, 5, 4, 10)),
        (timedelta(minutes=30), msk(2026, 5, 4, 9, 30)),
        (1 * H, msk(2026, 5, 4, 9)),  # the latest such instant: Monday's opening
        (2 * H, msk(2026, 5, 1, 17)),
        (11 * H, msk(2026, 4, 30, 17)),
    ],
    ids=["zero", "half-an-hour", "exactly-to-the-opening", "into-friday", "into-thursday"],
)
def test_working_time_before_a_deadline_skips_closed_hours(
    amount: timedelta, expected: datetime
) -> None:
    deadline = msk(2026, 5, 4, 10)
    assert working_time_before(OFFICE, deadline, amount) == expected.astimezone(UTC)


def test_a_shift_past_midnight_belongs_to_the_day_it_starts() -> None:
    fridays = Calendar("n", MOSCOW, hours=((time(22), time(6)),))  # mon-fri nights
    # Friday night runs into Saturday morning; no shift starts on Saturday or Sunday.
    assert working_time(fridays, msk(2026, 5, 1, 12), msk(2026, 5, 4, 12)) == 8 * H
    assert is_open(fridays, msk(2026, 5, 2, 5))
    assert not is_open(fridays, msk(2026, 5, 2, 6))
    assert next_opening(fridays, msk(2026, 5, 2, 6)) == msk(2026, 5, 4, 22).astimezone(UTC)
    assert last_closing(fridays, msk(2026, 5, 4, 12)) == msk(2026, 5, 2, 6).astimezone(UTC)


def test_two_ranges_a_day_and_a_whole_day_range() -> None:
    split = Calendar("s", MOSCOW, hours=((time(9), time(13)), (time(14), time(18))))
    assert working_time(split, msk(2026, 5, 4, 0), msk(2026, 5, 5, 0)) == 8 * H
    assert next_opening(split, msk(2026, 5, 4, 13, 30)) == msk(2026, 5, 4, 14).astimezone(UTC)
    always = Calendar("a", MOSCOW, hours=((time(0), time(0)),), workdays=frozenset(range(7)))
    assert working_time(always, msk(2026, 5, 1, 7), msk(2026, 5, 4, 7)) == 72 * H


# Berlin: clocks go forward on 2027-03-28 02:00 -> 03:00 and back on 2027-10-31 03:00 -> 02:00.
@pytest.mark.parametrize(
    ("cal", "start", "end", "expected"),
    [
        (NIGHTS, ber(2027, 3, 27, 12), ber(2027, 3, 28, 12), 7 * H),
        (NIGHTS, ber(2027, 10, 30, 12), ber(2027, 10, 31, 12), 9 * H),
        (NIGHTS, ber(2027, 3, 26, 12), ber(2027, 3, 27, 12), 8 * H),
        (Calendar("d", BERLIN), ber(2027, 3, 22), ber(2027, 3, 29), 45 * H),
        (Calendar("d", BERLIN), ber(2027, 10, 25), ber(2027, 11, 1), 45 * H),
        (
            Calendar("e", BERLIN, hours=((time(1), time(4)),), workdays=frozenset(range(7))),
            ber(2027, 3, 28),
            ber(2027, 3, 29),
            2 * H,
        ),
        (
            Calendar("e", BERLIN, hours=((time(1), time(4)),), workdays=frozenset(range(7))),
            ber(2027, 10, 31),
            ber(2027, 11, 1),
            4 * H,
        ),
    ],
    ids=[
        "night-shift-spring-forward-is-7h",
        "night-shift-fall-back-is-9h",
        "night-shift-normal-is-8h",
        "office-week-with-spring-change",
        "office-week-with-autumn-change",
        "early-range-spring-forward-is-2h",
        "early-range-fall-back-is-4h",
    ],
)
def test_working_time_is_real_elapsed_time_across_dst(
    cal: Calendar, start: datetime, end: datetime, expected: timedelta
) -> None:
    assert working_time(cal, start, end) == expected


def test_dst_instants_of_openings_and_closings() -> None:
    # The night of the spring change: 22:00 CET (21:00 UTC) to 06:00 CEST (04:00 UTC).
    deadline = ber(2027, 3, 28, 6)
    assert working_time_before(NIGHTS, deadline, 7 * H) == datetime(2027, 3, 27, 21, tzinfo=UTC)
    assert working_time_before(NIGHTS, deadline, 8 * H) == datetime(2027, 3, 27, 4, tzinfo=UTC)
    assert last_closing(NIGHTS, ber(2027, 3, 28, 12)) == datetime(2027, 3, 28, 4, tzinfo=UTC)
    # A range starting inside the gap (02:30 does not exist that night) opens at 03:30 CEST.
    gap = Calendar("g", BERLIN, hours=((time(2, 30), time(5)),), workdays=frozenset(range(7)))
    assert next_opening(gap, ber(2027, 3, 28, 0)) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    # In the autumn fold, 02:30 is its first occurrence (CEST, 00:30 UTC).
    assert next_opening(gap, ber(2027, 10, 31, 0)) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_days_off_and_extra_working_days_and_their_precedence() -> None:
    cal = Calendar(
        "c",
        MOSCOW,
        holidays={date(2026, 5, 4)},  # Monday: a public holiday
        working_weekends={date(2026, 5, 2), date(2026, 5, 3)},  # Saturday and Sunday worked
        days_off=frozenset({date(2026, 5, 3)}),  # the seller keeps Sunday off anyway
        extra_workdays=frozenset({date(2026, 5, 4)}),  # and opens on the holiday
    )
    assert [cal.is_working_day(date(2026, 5, d)) for d in range(1, 6)] == [
        True,
        True,
        False,
        True,
        True,
    ]
    assert working_time(cal, msk(2026, 5, 2), msk(2026, 5, 5)) == 18 * H


def test_a_calendar_that_never_opens_gives_none_and_zero_within_the_bounds() -> None:
    never = Calendar("never", MOSCOW, workdays=frozenset())
    at = msk(2026, 5, 4, 12)
    assert next_opening(never, at) is None
    assert last_closing(never, at) is None
    assert working_time_before(never, at, H) is None
    assert working_time(never, at, at + timedelta(days=3 * MAX_DAYS)) == timedelta(0)
    assert not is_open(never, at)


def test_working_time_stops_counting_after_the_bound() -> None:
    daily = Calendar("d", UTC, hours=((time(0), time(1)),), workdays=frozenset(range(7)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counted = working_time(daily, start, start + timedelta(days=10 * MAX_DAYS))
    assert MAX_DAYS * H <= counted <= (MAX_DAYS + 1) * H


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        working_time(OFFICE, datetime(2026, 5, 4), msk(2026, 5, 5))  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        working_time_before(OFFICE, msk(2026, 5, 4), -H)
    with pytest.raises(ValueError, match="overlap"):
        Calendar("x", MOSCOW, hours=((time(9), time(13)), (time(12), time(18))))


@pytest.mark.parametrize(
    ("hours", "clash"),
    [
        (["09:00-13:00", "13:00-18:00"], None),
        (["09:00-13:00", "12:59-18:00"], (0, 1)),
        (["22:00-06:00"], None),
        (["22:00-06:00", "06:00-14:00", "14:00-22:00"], None),
        (["22:00-06:00", "05:00-10:00"], (0, 1)),
        (["00:00-00:00"], None),
        (["00:00-00:00", "09:00-10:00"], (0, 1)),
        (["20:00-08:00", "09:00-19:00"], None),
        (["20:00-09:30", "09:00-19:00"], (0, 1)),
    ],
    ids=[
        "touching",
        "overlap-one-minute",
        "night-alone",
        "three-shifts-round-the-clock",
        "night-into-next-morning",
        "whole-day",
        "whole-day-and-more",
        "night-and-day-apart",
        "night-into-next-day-range",
    ],
)
def test_overlapping_ranges_include_the_next_days(
    hours: list[str], clash: tuple[int, int] | None
) -> None:
    parsed = [
        tuple(time.fromisoformat(part) for part in text.split("-"))  # "HH:MM-HH:MM"
        for text in hours
    ]
    assert overlapping_ranges(parsed) == clash  # type: ignore[arg-type]


def test_warehouse_calendars_pick_the_listed_one_then_the_default() -> None:
    main = Calendar("main", MOSCOW)
    china = Calendar("china", ZoneInfo("Asia/Shanghai"))
    both = WarehouseCalendars(by_warehouse={7: china}, default=main)
    assert both.for_warehouse(7) is china
    assert both.for_warehouse(8) is main
    assert both.for_warehouse(None) is main
    only = WarehouseCalendars(by_warehouse={7: china})
    assert only.for_warehouse(8) is None
    assert not WarehouseCalendars()
