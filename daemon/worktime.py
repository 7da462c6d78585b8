"""Working time: how much of a span a warehouse is open, and when it opens or closes.

A `Calendar` says when a warehouse works: its time zone, working weekdays, working hours (one
or more wall-clock ranges; a range whose end is not after its start runs past midnight into the
next day, "22:00-06:00"), the country's public holidays and transferred working days, and the
seller's own extra days off and extra working days. The holiday data is passed in as containers
of dates (`daemon.calendars` builds them from the `holidays` package); this module never looks
anything up itself.

The functions take and return aware datetimes (returned ones in UTC) and count real elapsed
time: a night shift "22:00-06:00" on the night clocks go forward is seven hours long. Wall-clock
times that do not exist (inside a DST gap) are moved forward by the gap; ambiguous ones (a DST
fold) are the first occurrence.

Everything is bounded: the work is per day, never per minute, and a search looks at most
`MAX_DAYS` days away. Beyond that a search returns None and `working_time` stops counting.

Pure: imports only the standard library. No clock, no I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

__all__ = [
    "MAX_DAYS",
    "WEEKDAYS",
    "Calendar",
    "WarehouseCalendars",
    "is_open",
    "last_closing",
    "next_opening",
    "overlapping_ranges",
    "working_seconds_left",
    "working_time",
    "working_time_before",
]

MAX_DAYS = 400  # how far a search looks (a little over a year: every holiday of a year and more)
_CACHED_DAYS = 8192  # (calendar, day) spans kept: years of days for a few calendars
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_NO_DATES: frozenset[date] = frozenset()

Range = tuple[time, time]


def _minutes(hours: Range) -> tuple[int, int]:
    """A range as minutes from the start of its day: (start, end), end up to 2 * 1440."""
    start = hours[0].hour * 60 + hours[0].minute
    end = hours[1].hour * 60 + hours[1].minute
    return start, end if end > start else end + 1440


def overlapping_ranges(hours: Sequence[Range]) -> tuple[int, int] | None:
    """The indexes (i, j) of the first two ranges that overlap, on one day or when a range that
    runs past midnight meets the next day's ranges; None when they are apart (touching ends are
    fine: "09:00-13:00" and "13:00-18:00")."""
    spans = [_minutes(h) for h in hours]
    for i, (start_i, end_i) in enumerate(spans):
        for j, (start_j, end_j) in enumerate(spans):
            if j > i and start_i < end_j and start_j < end_i:
                return i, j
            # range j of the next day, against range i of this day
            if j != i and start_i < end_j + 1440 and start_j + 1440 < end_i:
                return min(i, j), max(i, j)
    return None


@dataclass(frozen=True, slots=True)
class Calendar:
    """When one warehouse works.

    `zone` is the warehouse's time zone; `workdays` the working weekdays (0 = Monday);
    `hours` the working wall-clock ranges of a working day, (start, end), where an end not after
    the start means the range ends on the next day (start == end: 24 hours). A shift belongs to
    the day it starts on. `holidays` are the country's days off and `working_weekends` its
    transferred working days (any containers of dates); `days_off` and `extra_workdays` the
    seller's own, which win over the country's (an extra working day wins over everything).

    Raises ValueError when two ranges of `hours` overlap.
    """

    name: str
    zone: tzinfo
    hours: tuple[Range, ...] = ((time(9), time(18)),)
    workdays: frozenset[int] = frozenset(range(5))
    holidays: Container[date] = _NO_DATES
    working_weekends: Container[date] = _NO_DATES
    days_off: frozenset[date] = _NO_DATES
    extra_workdays: frozenset[date] = _NO_DATES

    def __post_init__(self) -> None:
        clash = overlapping_ranges(self.hours)
        if clash is not None:
            i, j = clash
            raise ValueError(
                f"calendar {self.name!r}: working hours {_show(self.hours[i])} and "
                f"{_show(self.hours[j])} overlap"
            )

    def is_working_day(self, day: date) -> bool:
        """True when the warehouse works on `day` (its ranges that start that day apply)."""
        if day in self.extra_workdays:
            return True
        if day in self.days_off or day in self.holidays:
            return False
        return day in self.working_weekends or day.weekday() in self.workdays

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working spans that start on local `day`, as UTC (start, end), in order; empty on a
        day off."""
        return list(_day_spans(self, day))


def _day_spans(cal: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """`cal.spans(day)`, computed once per calendar and day: the searches walk the same few
    days for every deadline of a cycle."""
    try:
        return _cached_day_spans(cal, day)
    except TypeError:  # a calendar whose day containers cannot be hashed (a plain set)
        return _spans_of(cal, day)


@lru_cache(maxsize=_CACHED_DAYS)
def _cached_day_spans(cal: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    return _spans_of(cal, day)


def _spans_of(cal: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if not cal.is_working_day(day):
        return ()
    out = []
    for start, end in sorted(cal.hours):
        end_day = day if end > start else day + _DAY
        opens = _utc(datetime.combine(day, start), cal.zone)
        closes = _utc(datetime.combine(end_day, end), cal.zone)
        if closes > opens:
            out.append((opens, closes))
    return tuple(out)


def _show(hours: Range) -> str:
    return f"{hours[0]:%H:%M}-{hours[1]:%H:%M}"


def _utc(wall: datetime, zone: tzinfo) -> datetime:
    # fold=0: a time in a DST gap moves forward by the gap, a time in a fold is its first occurrence
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"working time needs timezone-aware datetimes, got naive {moment!r}")
    return moment.astimezone(UTC)


def _local_day(cal: Calendar, moment: datetime) -> date:
    return moment.astimezone(cal.zone).date()


def _forward(cal: Calendar, at: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working spans ending after `at`, in time order and apart, for at most MAX_DAYS days."""
    first = _local_day(cal, at) - _DAY  # yesterday's shift may run into today
    frontier = at
    for offset in range(MAX_DAYS + 1):
        for opens, closes in _day_spans(cal, first + offset * _DAY):
            opens = max(opens, frontier)  # a span overlapping an earlier one (DST gap) is cut
            if closes > opens:
                yield opens, closes
                frontier = closes


def _backward(cal: Calendar, at: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working spans starting before `at`, latest first and apart, for at most MAX_DAYS days."""
    last = _local_day(cal, at)
    frontier = at
    for offset in range(MAX_DAYS + 1):
        for opens, closes in reversed(_day_spans(cal, last - offset * _DAY)):
            closes = min(closes, frontier)
            if closes > opens:
                yield opens, closes
                frontier = opens


def working_time(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """The working time of `cal` between the aware instants `start` and `end` (zero when `end`
    is not after `start`). Counts at most MAX_DAYS days after `start`. Raises ValueError for a
    naive datetime."""
    start, end = _aware(start), _aware(end)
    total = _ZERO
    if end <= start:
        return total
    for opens, closes in _forward(cal, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


def working_seconds_left(cal: Calendar, now: datetime, deadline: datetime) -> int:
    """Whole seconds of working time from `now` until `deadline`; 0 when none is left."""
    return int(working_time(cal, now, deadline).total_seconds())


def working_time_before(cal: Calendar, deadline: datetime, amount: timedelta) -> datetime | None:
    """The latest instant that leaves exactly `amount` of working time before `deadline` (in UTC;
    `deadline` itself for a zero amount). None when that much working time is not found within
    MAX_DAYS days before it. Raises ValueError for a naive datetime or a negative amount."""
    deadline = _aware(deadline)
    if amount < _ZERO:
        raise ValueError(f"working time must not be negative, got {amount}")
    if amount == _ZERO:
        return deadline
    left = amount
    for opens, closes in _backward(cal, deadline):
        if closes - opens >= left:
            return closes - left
        left -= closes - opens
    return None


def is_open(cal: Calendar, at: datetime) -> bool:
    """True when `at` is inside working time (a span includes its start, not its end)."""
    at = _aware(at)
    for opens, _closes in _forward(cal, at):
        return opens <= at
    return False


def next_opening(cal: Calendar, at: datetime) -> datetime | None:
    """The first instant at or after `at` when the warehouse is open: `at` itself when it is
    open then, else the start of the next working span (UTC). None when it does not open within
    MAX_DAYS days."""
    at = _aware(at)
    for opens, _closes in _forward(cal, at):
        return max(opens, at)
    return None


def last_closing(cal: Calendar, at: datetime) -> datetime | None:
    """The instant from which no working time is left before `at`: the end of the last working
    span before `at`, or `at` itself when the warehouse is open right before it (UTC). For a
    deadline, this is when the warehouse closes for the last time before it. None when there is
    no working time within MAX_DAYS days before `at`."""
    at = _aware(at)
    for _opens, closes in _backward(cal, at):
        return closes
    return None


@dataclass(frozen=True)
class WarehouseCalendars:
    """Which calendar applies to which warehouse: the one that lists it, else the default one,
    else none (clock time)."""

    by_warehouse: Mapping[int, Calendar] = field(default_factory=dict)
    default: Calendar | None = None

    def for_warehouse(self, warehouse_id: int | None) -> Calendar | None:
        """The calendar of `warehouse_id`, or None when clock time applies."""
        if warehouse_id is not None and warehouse_id in self.by_warehouse:
            return self.by_warehouse[warehouse_id]
        return self.default

    def __bool__(self) -> bool:
        return bool(self.by_warehouse) or self.default is not None
