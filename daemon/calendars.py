"""`[[calendars]]`: the working calendars of warehouses, as configured and as built for use.

`CalendarSection` is one `[[calendars]]` table (pydantic; the config model lists them);
`calendar_problems(raw)` checks what spans several tables (names, warehouses, defaults, the
`calendar:NAME` quiet hours of routes), named by dotted path like the rest of the config.
`build_calendars(...)` turns the validated tables into `worktime.Calendar` values with the
country's public holidays and transferred working days from the `holidays` package, imported
only when a calendar names a country.

Imports pydantic, holidays, the standard library and daemon.worktime; never config (config
imports this module), the store or the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from daemon.config_checks import QUIET_CALENDAR_PREFIX, ZoneName, quiet_calendar_name
from daemon.worktime import (
    WEEKDAYS,
    Calendar,
    WarehouseCalendars,
    is_open,
    next_opening,
    overlapping_ranges,
)

__all__ = [
    "QUIET_CALENDAR_PREFIX",
    "CalendarSection",
    "build_calendars",
    "calendar_problems",
    "quiet_calendar_name",
    "quiet_schedule",
]

FIRST_YEAR, LAST_YEAR = 2000, 2199  # dates outside these years are typos, not plans

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS_DEFAULT: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")

# ---------------------------------------------------------------- field types


_CLOCK = r"([01]?\d|2[0-3]):([0-5]\d)"
_RANGE = re.compile(rf"^\s*{_CLOCK}\s*-\s*(?:{_CLOCK}|(24:00))\s*$")


def _hours_range(value: Any) -> tuple[time, time]:
    if isinstance(value, tuple):
        return value
    match = _RANGE.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "hours",
            '{value} is not a range of working hours such as "09:00-18:00" or "22:00-06:00"',
            {"value": _show(value)},
        )
    start = time(int(match[1]), int(match[2]))
    end = time(0) if match[5] else time(int(match[3]), int(match[4]))
    whole_day = match[5] is not None and start == time(0)
    if start == end and not whole_day:
        raise PydanticCustomError(
            "hours",
            '"{value}" is an empty range (use "00:00-24:00" for the whole day)',
            {"value": value},
        )
    return start, end


def _range_text(hours: tuple[time, time]) -> str:
    end = "24:00" if hours[1] == time(0) else f"{hours[1]:%H:%M}"
    return f"{hours[0]:%H:%M}-{end}"


HoursRange = Annotated[
    tuple[time, time],
    BeforeValidator(_hours_range),
    PlainSerializer(_range_text, return_type=str),
]


def _apart(hours: list[tuple[time, time]]) -> list[tuple[time, time]]:
    clash = overlapping_ranges(hours)
    if clash is not None:
        first, second = (_range_text(hours[index]) for index in clash)
        raise PydanticCustomError(
            "hours_overlap",
            'ranges "{first}" and "{second}" overlap (on one day, or a range past midnight '
            "with the next day's)",
            {"first": first, "second": second},
        )
    return hours


def _day(value: Any) -> date:
    if isinstance(value, date) and type(value) is date:
        day = value
    elif isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise PydanticCustomError(
                "date", '"{value}" is not a real date', {"value": value}
            ) from None
    else:
        raise PydanticCustomError(
            "date", '{value} is not a date such as "2027-02-15"', {"value": _show(value)}
        )
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PydanticCustomError(
            "date",
            '"{value}" is outside the years {first}-{last}',
            {"value": day.isoformat(), "first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return day


Day = Annotated[date, BeforeValidator(_day)]


def _unique_days(days: list[Weekday]) -> list[Weekday]:
    # An empty list is a warehouse that never works (its postings have no working time left,
    # and every one is at risk at once); searches stop after worktime.MAX_DAYS days.
    if len(set(days)) != len(days):
        raise PydanticCustomError("workdays", "names a weekday twice")
    return days


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


# ---------------------------------------------------------------- the model


class CalendarSection(BaseModel):
    """One `[[calendars]]` table (CONTRACT section 7). `timezone` None = `daemon.timezone`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    country: str | None = None
    subdiv: str | None = None
    timezone: ZoneName | None = None
    workdays: Annotated[list[Weekday], AfterValidator(_unique_days)] = Field(
        default_factory=lambda: list(_WEEKDAYS_DEFAULT)
    )
    hours: Annotated[list[HoursRange], Field(min_length=1), AfterValidator(_apart)] = Field(
        default_factory=lambda: [(time(9), time(18))]
    )
    days_off: list[Day] = Field(default_factory=list)
    extra_workdays: list[Day] = Field(default_factory=list)
    warehouse_ids: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list)
    default: bool = False

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None:
            _country_holidays(value, None)
        return value

    @field_validator("subdiv")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "country" not in info.data:  # the country itself is wrong: reported there
            return value
        country = info.data["country"]
        if country is None:
            raise PydanticCustomError("subdiv", "needs a country")
        _country_holidays(country, value)
        return value

    @field_validator("extra_workdays")
    @classmethod
    def _not_also_off(cls, value: list[date], info: ValidationInfo) -> list[date]:
        both = sorted(set(value) & set(info.data.get("days_off") or ()))
        if both:
            raise PydanticCustomError(
                "extra_workdays",
                "{days} also in days_off; a date is either a working day or a day off",
                {"days": ", ".join(day.isoformat() for day in both)},
            )
        return value


def _country_holidays(country: str, subdiv: str | None) -> Any:
    """The holidays package's calendar of `country` (and `subdiv`); raises a clear error for a
    country or subdivision it does not know."""
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        pass
    if subdiv is None:
        raise PydanticCustomError(
            "country",
            'unknown country "{value}" (use an ISO 3166-1 code the holidays package knows, '
            "such as RU or CN)",
            {"value": country},
        )
    known = holidays.country_holidays(country).subdivisions
    raise PydanticCustomError(
        "subdiv",
        'country {country} has no subdivision "{value}" (known: {known})',
        {"country": country, "value": subdiv, "known": ", ".join(known) or "none"},
    )


# ---------------------------------------------------------------- checks across tables


def calendar_problems(raw: Mapping[str, Any]) -> list[str]:
    """Problems that span several `[[calendars]]` tables or a route and a calendar, from the raw
    config data: duplicate names, a warehouse in two calendars, two defaults, a route's
    `quiet_hours = "calendar:NAME"` naming no calendar. One line each, by dotted path."""
    problems: list[str] = []
    tables = raw.get("calendars")
    tables = tables if isinstance(tables, list) else []
    names: dict[str, int] = {}
    warehouses: dict[int, int] = {}
    default: int | None = None
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            continue
        name = table.get("name")
        if isinstance(name, str) and name:
            if name in names:
                problems.append(
                    f'calendars[{index}].name: duplicate calendar name "{name}" '
                    f"(also calendars[{names[name]}])"
                )
            names.setdefault(name, index)
        ids = table.get("warehouse_ids")
        for position, warehouse in enumerate(ids if isinstance(ids, list) else []):
            if not isinstance(warehouse, int) or isinstance(warehouse, bool):
                continue
            other = warehouses.setdefault(warehouse, index)
            if other != index:
                problems.append(
                    f"calendars[{index}].warehouse_ids[{position}]: warehouse {warehouse} is "
                    f"already in calendars[{other}]; a warehouse has one calendar"
                )
        if table.get("default") is True:
            if default is not None:
                problems.append(
                    f"calendars[{index}].default: calendars[{default}] is the default already; "
                    "at most one calendar is"
                )
            else:
                default = index
    routes = raw.get("notify")
    for index, route in enumerate(routes if isinstance(routes, list) else []):
        name = quiet_calendar_name(route.get("quiet_hours") if isinstance(route, dict) else None)
        if name and name not in names:  # an empty name is a bad window: reported by the field
            known = ", ".join(f'"{known}"' for known in names) or "none"
            problems.append(
                f'notify[{index}].quiet_hours: no calendar is named "{name}" (calendars: {known})'
            )
    return problems


# ---------------------------------------------------------------- building the calendars


class _CountryDays:
    """A country's days off and transferred working days, year by year, from the holidays
    package (each year read once, with its neighbours, as days can spill over New Year)."""

    def __init__(self, country: str, subdiv: str | None) -> None:
        self._source = _country_holidays(country, subdiv)
        self._years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}

    def year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """(days off, weekend days that are working days) of `year`."""
        if year not in self._years:
            for near in (year - 1, year, year + 1):
                _ = date(near, 6, 1) in self._source  # makes the package fill that year
            off = frozenset(day for day in self._source if day.year == year)
            working = frozenset(day for day in self._source.weekend_workdays if day.year == year)
            self._years[year] = (off, working)
        return self._years[year]


class _Holidays:
    def __init__(self, country: _CountryDays) -> None:
        self._country = country

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in self._country.year(day.year)[0]


class _WorkingWeekends:
    def __init__(self, country: _CountryDays) -> None:
        self._country = country

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in self._country.year(day.year)[1]


def build_calendar(section: CalendarSection, default_zone: str) -> Calendar:
    """The working calendar of one validated `[[calendars]]` table; `default_zone` is
    `daemon.timezone`, used when the table sets none."""
    holidays: Any = frozenset()
    working_weekends: Any = frozenset()
    if section.country is not None:
        country = _CountryDays(section.country, section.subdiv)
        holidays, working_weekends = _Holidays(country), _WorkingWeekends(country)
    return Calendar(
        name=section.name,
        zone=ZoneInfo(section.timezone or default_zone),
        hours=tuple(section.hours),
        workdays=frozenset(WEEKDAYS.index(day) for day in section.workdays),
        holidays=holidays,
        working_weekends=working_weekends,
        days_off=frozenset(section.days_off),
        extra_workdays=frozenset(section.extra_workdays),
    )


def build_calendars(
    sections: Sequence[CalendarSection], default_zone: str
) -> tuple[dict[str, Calendar], WarehouseCalendars]:
    """Every calendar by name, and which applies to which warehouse."""
    by_name = {section.name: build_calendar(section, default_zone) for section in sections}
    by_warehouse = {
        warehouse: by_name[section.name]
        for section in sections
        for warehouse in section.warehouse_ids
    }
    default = next((by_name[s.name] for s in sections if s.default), None)
    return by_name, WarehouseCalendars(by_warehouse=by_warehouse, default=default)


class ClosedHours:
    """A calendar's closed hours as a route's quiet hours (`quiet_hours = "calendar:NAME"`):
    quiet whenever the warehouse is closed, until it opens."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar

    def is_quiet(self, now: datetime) -> bool:
        """True when the calendar's warehouse is closed at `now`."""
        return not is_open(self.calendar, now)

    def quiet_until(self, now: datetime) -> datetime:
        """The next opening; a day later when none is found (checked again then)."""
        opening = next_opening(self.calendar, now)
        return opening if opening is not None else now + timedelta(days=1)


def quiet_schedule(
    quiet_hours: tuple[time, time] | str | None, calendars: Mapping[str, Calendar]
) -> tuple[time, time] | ClosedHours | None:
    """A route's validated `quiet_hours` as the notify routes take it: a daily window as is,
    `"calendar:NAME"` as that calendar's closed hours."""
    if not isinstance(quiet_hours, str):
        return quiet_hours
    return ClosedHours(calendars[quiet_calendar_name(quiet_hours) or ""])
