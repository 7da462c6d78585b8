"""`[[calendars]]`: config checks by dotted path, and the holidays package's RU and CN days.

The holiday tables assert what the installed `holidays` package says about 2027 (RU transfers
a Saturday and two days off at the ends of the year; CN's Spring Festival and Golden Week).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.calendars import CalendarSection, ClosedHours, build_calendar, build_calendars
from daemon.config import ConfigError, parse_config
from daemon.notify.routes import Route
from daemon.worktime import last_closing, next_opening, working_time

ACCOUNTS: dict[str, Any] = {"accounts": [{"name": "a", "client_id": "1", "api_key": "k"}]}
SHANGHAI = ZoneInfo("Asia/Shanghai")
MOSCOW = ZoneInfo("Europe/Moscow")
H = timedelta(hours=1)


def problems(**raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({**ACCOUNTS, **raw})
    return caught.value.problems


def test_a_calendar_takes_the_contract_defaults() -> None:
    config = parse_config({**ACCOUNTS, "calendars": [{"name": "main"}]})
    section = config.calendars[0]
    assert section.workdays == ["mon", "tue", "wed", "thu", "fri"]
    assert section.hours == [(time(9), time(18))]
    assert section.country is None and section.timezone is None
    assert section.days_off == [] and section.extra_workdays == []
    assert section.warehouse_ids == [] and section.default is False
    assert config.policy.remind_in == "clock"
    by_name, warehouses = build_calendars(config.calendars, config.daemon.timezone)
    assert by_name["main"].zone == ZoneInfo("Europe/Moscow")  # daemon.timezone
    assert not warehouses  # no warehouse listed and no default: clock time everywhere


def test_a_full_calendar_is_read_and_shown_back_as_written() -> None:
    table = {
        "name": "china",
        "country": "CN",
        "timezone": "Asia/Shanghai",
        "workdays": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "hours": ["09:00-12:00", "13:00-24:00"],
        "days_off": ["2027-02-15", date(2027, 2, 16)],  # a TOML date works too
        "extra_workdays": ["2027-02-07"],
        "warehouse_ids": [7, 8],
        "default": True,
    }
    config = parse_config(
        {
            **ACCOUNTS,
            "policy": {"remind_in": "working"},
            "calendars": [table],
            "notify": [{"url": "json://127.0.0.1/x", "quiet_hours": "calendar:china"}],
        }
    )
    section = config.calendars[0]
    assert section.hours == [(time(9), time(12)), (time(13), time(0))]
    assert section.days_off == [date(2027, 2, 15), date(2027, 2, 16)]
    assert config.policy.remind_in == "working"
    shown = config.masked()
    assert shown["calendars"][0]["hours"] == ["09:00-12:00", "13:00-24:00"]
    assert shown["calendars"][0]["days_off"] == ["2027-02-15", "2027-02-16"]
    assert shown["notify"][0]["quiet_hours"] == "calendar:china"
    _, warehouses = build_calendars(config.calendars, config.daemon.timezone)
    assert warehouses.for_warehouse(7) is warehouses.for_warehouse(99)  # listed, and default


BAD_CALENDARS = [
    (
        [{"name": "x", "country": "XX"}],
        [
            'calendars[0].country: unknown country "XX" (use an ISO 3166-1 code the holidays '
            "package knows, such as RU or CN)"
        ],
    ),
    (
        [{"name": "x", "country": "RU", "subdiv": "MOW"}],
        ['calendars[0].subdiv: country RU has no subdivision "MOW" (known: none)'],
    ),
    ([{"name": "x", "subdiv": "BY"}], ["calendars[0].subdiv: needs a country"]),
    (
        [{"name": "x", "hours": ["09:00-13:00", "12:00-18:00"]}],
        [
            'calendars[0].hours: ranges "09:00-13:00" and "12:00-18:00" overlap (on one day, '
            "or a range past midnight with the next day's)"
        ],
    ),
    (
        [{"name": "x", "hours": ["22:00-06:00", "05:30-09:00"]}],
        [
            'calendars[0].hours: ranges "22:00-06:00" and "05:30-09:00" overlap (on one day, '
            "or a range past midnight with the next day's)"
        ],
    ),
    (
        [{"name": "x", "hours": ["9-18", "10:00-10:00"]}],
        [
            'calendars[0].hours[0]: "9-18" is not a range of working hours such as '
            '"09:00-18:00" or "22:00-06:00"',
            'calendars[0].hours[1]: "10:00-10:00" is an empty range (use "00:00-24:00" for the '
            "whole day)",
        ],
    ),
    (
        [{"name": "a", "warehouse_ids": [5]}, {"name": "b", "warehouse_ids": [6, 5]}],
        [
            "calendars[1].warehouse_ids[1]: warehouse 5 is already in calendars[0]; a warehouse "
            "has one calendar"
        ],
    ),
    (
        [{"name": "a", "default": True}, {"name": "b", "default": True}],
        ["calendars[1].default: calendars[0] is the default already; at most one calendar is"],
    ),
    (
        [{"name": "a"}, {"name": "a"}],
        ['calendars[1].name: duplicate calendar name "a" (also calendars[0])'],
    ),
    (
        [{"name": "x", "days_off": ["2027-02-30", "15.02.2027", "1999-12-31", 20270215]}],
        [
            'calendars[0].days_off[0]: "2027-02-30" is not a real date',
            'calendars[0].days_off[1]: "15.02.2027" is not a date such as "2027-02-15"',
            'calendars[0].days_off[2]: "1999-12-31" is outside the years 2000-2199',
            'calendars[0].days_off[3]: 20270215 is not a date such as "2027-02-15"',
        ],
    ),
    (
        [{"name": "x", "days_off": ["2027-02-15"], "extra_workdays": ["2027-02-15"]}],
        [
            "calendars[0].extra_workdays: 2027-02-15 also in days_off; a date is either a "
            "working day or a day off"
        ],
    ),
    (
        [{"name": "x", "timezone": "Mars/Olympus", "workdays": ["mon", "mon"]}],
        [
            'calendars[0].timezone: unknown time zone "Mars/Olympus" (use an IANA name such as '
            "Asia/Shanghai)",
            "calendars[0].workdays: names a weekday twice",
        ],
    ),
    (
        [{"name": "x", "workdays": ["monday"], "colour": "red"}],
        [
            "calendars[0].workdays[0]: \"monday\" is not one of 'mon', 'tue', 'wed', 'thu', "
            "'fri', 'sat' or 'sun'",
            "calendars[0].colour: unknown key",
        ],
    ),
]


@pytest.mark.parametrize(
    ("tables", "expected"),
    BAD_CALENDARS,
    ids=[
        "unknown-country",
        "unknown-subdivision",
        "subdivision-without-country",
        "overlapping-hours",
        "night-shift-overlapping-next-morning",
        "bad-and-empty-ranges",
        "warehouse-in-two-calendars",
        "two-defaults",
        "duplicate-names",
        "bad-dates",
        "a-day-both-off-and-working",
        "bad-zone-and-repeated-weekday",
        "unknown-weekday-and-key",
    ],
)
def test_each_bad_calendar_is_named_by_its_dotted_path(
    tables: list[dict[str, Any]], expected: list[str]
) -> None:
    assert problems(calendars=tables) == expected


def test_quiet_hours_may_name_a_calendar_that_exists() -> None:
    routes = [
        {"url": "json://127.0.0.1/x", "quiet_hours": "calendar:nope"},
        {"url": "json://127.0.0.1/y", "quiet_hours": "calendar:main"},
    ]
    assert problems(calendars=[{"name": "main"}], notify=routes) == [
        'notify[0].quiet_hours: no calendar is named "nope" (calendars: "main")'
    ]
    assert problems(notify=[{"url": "json://127.0.0.1/x", "quiet_hours": "calendar:"}]) == [
        'notify[0].quiet_hours: "calendar:" is not a window such as "22:00-08:00" or '
        '"calendar:NAME"'
    ]


def test_a_route_quiet_by_calendar_is_quiet_while_the_warehouse_is_closed() -> None:
    office = build_calendar(CalendarSection(name="office"), "Europe/Moscow")
    route = Route(
        index=0, url="json://127.0.0.1/x", events=frozenset(), quiet_hours=ClosedHours(office)
    )
    friday_evening = datetime(2026, 5, 1, 20, tzinfo=MOSCOW)
    assert route.is_quiet(friday_evening)
    assert route.quiet_until(friday_evening) == datetime(2026, 5, 4, 9, tzinfo=MOSCOW)
    assert not route.is_quiet(datetime(2026, 5, 4, 9, tzinfo=MOSCOW))


# ---------------------------------------------------------------- the holidays package's days


def russia() -> Any:
    return build_calendar(CalendarSection(name="ru", country="RU"), "Europe/Moscow")


def china() -> Any:
    section = CalendarSection(name="cn", country="CN", timezone="Asia/Shanghai")
    return build_calendar(section, "Europe/Moscow")


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 1, 1), False),
        (date(2027, 1, 8), False),  # the New Year holidays run to Friday the 8th
        (date(2027, 1, 11), True),
        (date(2027, 2, 20), True),  # a Saturday worked: its day off moved to Monday the 22nd
        (date(2027, 2, 22), False),
        (date(2027, 2, 23), False),  # Defender of the Fatherland Day
        (date(2027, 5, 3), False),  # Labour Day on a Saturday, observed on Monday
        (date(2027, 5, 10), False),  # Victory Day on a Sunday, observed on Monday
        (date(2027, 6, 14), False),  # Russia Day on a Saturday, observed on Monday
        (date(2027, 11, 5), False),  # substituted from Saturday 2 January
        (date(2027, 12, 31), False),  # substituted from Sunday 3 January
        (date(2027, 12, 30), True),
    ],
    ids=lambda value: value.isoformat() if isinstance(value, date) else str(value),
)
def test_russia_2027_days_off_and_transferred_working_days(day: date, working: bool) -> None:
    assert russia().is_working_day(day) is working


def test_russia_2027_working_time_over_the_transferred_saturday() -> None:
    cal = russia()
    start = datetime(2027, 2, 19, 18, tzinfo=MOSCOW)  # Friday evening
    end = datetime(2027, 2, 24, 9, tzinfo=MOSCOW)  # Wednesday morning
    assert working_time(cal, start, end) == 9 * H  # Saturday 20th only
    assert next_opening(cal, start) == datetime(2027, 2, 20, 9, tzinfo=MOSCOW)
    assert last_closing(cal, end) == datetime(2027, 2, 20, 18, tzinfo=MOSCOW)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 2, 4), True),
        (date(2027, 2, 5), False),  # Chinese New Year's Eve
        (date(2027, 2, 6), False),
        (date(2027, 2, 8), False),  # Spring Festival
        (date(2027, 2, 9), False),  # observed
        (date(2027, 2, 10), False),  # observed
        (date(2027, 2, 11), True),
        (date(2027, 10, 1), False),  # National Day
        (date(2027, 10, 5), False),  # observed
        (date(2027, 10, 6), True),
        (date(2025, 1, 26), True),  # a Sunday worked in 2025: a swap the package knows
    ],
    ids=lambda value: value.isoformat() if isinstance(value, date) else str(value),
)
def test_china_2027_spring_festival_and_golden_week(day: date, working: bool) -> None:
    assert china().is_working_day(day) is working


def test_a_deadline_after_the_spring_festival_has_no_working_time_during_it() -> None:
    cal = china()
    closing = datetime(2027, 2, 4, 18, tzinfo=SHANGHAI)
    deadline = datetime(2027, 2, 11, 10, tzinfo=SHANGHAI)
    assert working_time(cal, closing, deadline) == 1 * H
    assert next_opening(cal, closing) == datetime(2027, 2, 11, 9, tzinfo=SHANGHAI)
    early = datetime(2027, 2, 11, 9, tzinfo=SHANGHAI)
    assert last_closing(cal, early) == closing.astimezone(UTC)


def test_the_sellers_own_days_win_over_the_countrys() -> None:
    section = CalendarSection(
        name="cn",
        country="CN",
        timezone="Asia/Shanghai",
        extra_workdays=[date(2027, 2, 9)],
        days_off=[date(2025, 1, 26)],
    )
    cal = build_calendar(section, "UTC")
    assert cal.is_working_day(date(2027, 2, 9))  # open in the festival
    assert not cal.is_working_day(date(2025, 1, 26))  # closed on the country's working Sunday


def test_a_subdivision_brings_its_own_holidays() -> None:
    config = parse_config(
        {
            **ACCOUNTS,
            "calendars": [
                {"name": "munich", "country": "DE", "subdiv": "BY", "timezone": "Europe/Berlin"},
                {"name": "berlin", "country": "DE", "subdiv": "BE", "timezone": "Europe/Berlin"},
            ],
        }
    )
    by_name, _ = build_calendars(config.calendars, config.daemon.timezone)
    epiphany = date(2027, 1, 6)  # a holiday in Bavaria, not in Berlin
    assert not by_name["munich"].is_working_day(epiphany)
    assert by_name["berlin"].is_working_day(epiphany)
