"""Properties of the working-time arithmetic for any calendar and instants (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.worktime import (
    Calendar,
    is_open,
    last_closing,
    next_opening,
    overlapping_ranges,
    working_time,
    working_time_before,
)

# Zones with DST (Berlin, New York, Lord Howe's half-hour change, Santiago in the south) and
# without (Moscow, Shanghai, UTC).
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Europe/Moscow",
    "Asia/Shanghai",
    "UTC",
]
# Days around DST changes of those zones, so that many examples cross one.
BASES = [
    datetime(2027, 3, 14, 12, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
    datetime(2027, 4, 4, 12, tzinfo=UTC),
    datetime(2027, 10, 3, 12, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),
    datetime(2027, 11, 7, 12, tzinfo=UTC),
]
WINDOW = 12 * 86400


@st.composite
def hour_ranges(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    """1-3 ranges that fit inside one 24-hour window from a random start: never overlapping,
    some running past midnight."""
    origin = draw(st.integers(0, 47)) * 30
    count = draw(st.integers(1, 3))
    points = sorted(draw(st.sets(st.integers(0, 96), min_size=2 * count, max_size=2 * count)))
    ranges = []
    for start, end in zip(points[::2], points[1::2], strict=True):
        a, b = (origin + start * 15) % 1440, (origin + end * 15) % 1440
        ranges.append((time(a // 60, a % 60), time(b // 60, b % 60)))
    return tuple(ranges)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    base = date(2027, 2, 25)
    some_days = st.frozensets(
        st.integers(0, 280).map(lambda n: base + timedelta(days=n)), max_size=30
    )
    hours = draw(hour_ranges())
    assert overlapping_ranges(hours) is None
    return Calendar(
        "prop",
        ZoneInfo(draw(st.sampled_from(ZONES))),
        hours=hours,
        workdays=draw(st.frozensets(st.integers(0, 6))),
        holidays=draw(some_days),
        working_weekends=draw(some_days),
        days_off=draw(some_days),
        extra_workdays=draw(some_days),
    )


moments = st.builds(
    lambda base, seconds: base + timedelta(seconds=seconds),
    st.sampled_from(BASES),
    st.integers(-WINDOW, WINDOW),
)
amounts = st.integers(0, 5 * 86400).map(lambda s: timedelta(seconds=s))


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, moments, moments)
def test_working_time_is_additive_over_any_split(
    cal: Calendar, a: datetime, b: datetime, c: datetime
) -> None:
    start, middle, end = sorted([a, b, c])
    whole = working_time(cal, start, end)
    assert whole == working_time(cal, start, middle) + working_time(cal, middle, end)


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, moments)
def test_working_time_is_never_negative_nor_more_than_clock_time(
    cal: Calendar, a: datetime, b: datetime
) -> None:
    counted = working_time(cal, a, b)
    assert timedelta(0) <= counted <= max(b - a, timedelta(0))
    if b <= a:
        assert counted == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(calendars(), moments)
def test_no_working_time_inside_a_closed_span(cal: Calendar, at: datetime) -> None:
    opening = next_opening(cal, at)
    if opening is not None:
        assert opening >= at
        assert working_time(cal, at, opening) == timedelta(0)
        assert (opening == at) == is_open(cal, at)
        assert is_open(cal, opening)
    closing = last_closing(cal, at)
    if closing is not None:
        assert closing <= at
        assert working_time(cal, closing, at) == timedelta(0)
        if closing < at:  # it really closed then: open just before
            assert working_time(cal, closing - timedelta(microseconds=1), closing) > timedelta(0)


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, amounts)
def test_d_working_time_before_x_gives_d_back(
    cal: Calendar, deadline: datetime, amount: timedelta
) -> None:
    start = working_time_before(cal, deadline, amount)
    if start is None:  # not that much working time within the bound
        assert working_time(cal, deadline - timedelta(days=390), deadline) < amount
        return
    assert start <= deadline
    assert working_time(cal, start, deadline) == amount
    if amount:  # the latest such instant: a moment later leaves less
        later = start + timedelta(microseconds=1)
        assert working_time(cal, later, deadline) < amount


@st.composite
def plain_calendars(draw: st.DrawFn) -> Calendar:
    """Calendars in zones without DST, for the minute-by-minute reference."""
    return Calendar(
        "plain",
        ZoneInfo(draw(st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Moscow"]))),
        hours=draw(hour_ranges()),
        workdays=draw(st.frozensets(st.integers(0, 6))),
        days_off=draw(
            st.frozensets(
                st.integers(0, 10).map(lambda n: date(2027, 3, 9) + timedelta(days=n)),
                max_size=3,
            )
        ),
    )


def minute_is_working(cal: Calendar, minute: datetime) -> bool:
    local = minute.astimezone(cal.zone).replace(tzinfo=None)
    for day in (local.date() - timedelta(days=1), local.date()):
        if not cal.is_working_day(day):
            continue
        for start, end in cal.hours:
            opens = datetime.combine(day, start)
            closes = datetime.combine(day if end > start else day + timedelta(days=1), end)
            if opens <= local < closes:
                return True
    return False


@settings(max_examples=60, deadline=None)
@given(plain_calendars(), st.integers(0, 4 * 1440), st.integers(0, 3 * 1440))
def test_working_time_matches_counting_minute_by_minute(
    cal: Calendar, start_minute: int, length: int
) -> None:
    start = datetime(2027, 3, 10, tzinfo=UTC) + timedelta(minutes=start_minute)
    expected = sum(minute_is_working(cal, start + timedelta(minutes=m)) for m in range(length))
    assert working_time(cal, start, start + timedelta(minutes=length)) == timedelta(
        minutes=expected
    )
