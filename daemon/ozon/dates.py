"""Ozon's date-times -> aware UTC datetimes, range-checked here, once.

Real dates lie in [EARLIEST (2000), FAR_FUTURE (2100)). A `shipment_date` from FAR_FUTURE on
(Ozon's `9999-12-31T23:59:59Z` "none" marker) becomes `models.NO_DEADLINE`; one before EARLIEST
(`0001-01-01T00:00:00Z`, a zero value) is a problem. Other dates outside the range (optional
ones: `in_process_at`, the next tariff step, key expiry) read as absent (None).

Dates many postings share (deadlines) go through a small cache.

This module imports the standard library, `daemon.models` and `daemon.ozon.wire` (ParseError).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from daemon.models import NO_DEADLINE
from daemon.ozon.wire import ParseError

__all__ = [
    "EARLIEST",
    "FAR_FUTURE",
    "deadline",
    "optional_date",
    "parse_datetime",
    "step_start",
]

_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})\Z"
)
_FAR_YEAR = re.compile(r"(?:2[1-9]|[3-9]\d)\d\d-")  # years 2100-9999
_date_cache: dict[str, datetime] = {}
# Real dates lie in [EARLIEST, FAR_FUTURE). Outside it a date is a marker, never a moment to
# compute with (9999-12-31 plus a time zone offset or a duration overflows a datetime).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
_DATE_CACHE_SIZE = 8192
# Ozon's "no further step" marker, `9999-12-31T23:59:59.9999999Z` (fraction digits vary).
_NO_FURTHER_STEP = "9999-12-31"


def parse_datetime(text: str) -> datetime:
    """Parse RFC 3339 text (0-9 fraction digits, `Z` or an offset) into an aware UTC datetime.

    Fractions beyond microseconds are truncated (so Ozon's `9999-12-31T23:59:59.999999900Z`
    sentinel works). Raises ValueError for anything else, including a missing time zone.
    """
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    match = _DATE_TIME.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    day, clock, fraction, zone = match.groups()
    if zone == "Z" and fraction is None:  # the shape Ozon sends: read as is (3x faster)
        try:
            value = datetime.fromisoformat(text)  # "Z" gives the shared UTC tzinfo
        except ValueError:
            pass  # the general path below says what is wrong, in its words
        else:
            _remember(text, value)
            return value
    iso = f"{day}T{clock}"
    if fraction:
        iso += "." + fraction[:6].ljust(6, "0")
    iso += "+00:00" if zone in ("Z", "z") else zone
    try:
        value = datetime.fromisoformat(iso)
        # An offset is converted; "+00:00" becomes the one shared UTC tzinfo.
        value = value.astimezone(UTC) if value.utcoffset() else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{text!r} is not a valid date-time ({err})") from None
    _remember(text, value)
    return value


def _remember(text: str, value: datetime) -> None:
    if len(_date_cache) >= _DATE_CACHE_SIZE:
        _date_cache.clear()
    _date_cache[text] = value


def optional_date(text: str | None, field: str, number: str) -> datetime | None:
    """An optional date-time: None when absent or outside the range of real dates (Ozon sends
    `0001-01-01T00:00:00Z` for "not set" and `9999-12-31T23:59:59Z` for "none"); ParseError
    when it is not a date-time at all."""
    value = _any_date(text, field, number)
    if value is None or not EARLIEST <= value < FAR_FUTURE:
        return None
    return value


def deadline(text: str | None, number: str) -> datetime:
    """The posting's `shipment_date`: NO_DEADLINE when it is far in the future (Ozon's marker
    for none); ParseError when it is missing, not a date-time, or before EARLIEST (a zero date
    is not a deadline: the posting is reported and skipped rather than called overdue)."""
    value = _any_date(text, "shipment_date", number)
    if value is None:
        raise ParseError("missing shipment_date", field="shipment_date", posting_number=number)
    if value >= FAR_FUTURE:
        return NO_DEADLINE
    if value < EARLIEST:
        raise ParseError(
            f"shipment_date {text!r} is before {EARLIEST:%Y}: not a real deadline",
            field="shipment_date",
            posting_number=number,
        )
    return value


def step_start(text: str | None, field: str, number: str) -> datetime | None:
    """When the next tariff step starts: None for null, "" or the 9999-12-31 "no further step"
    marker; ParseError when it is not a date-time.

    Most of these moments are unique to their posting (shipment_date plus whole steps), so
    Ozon's usual shape `2026-11-26T22:00:00Z` is read directly and kept out of the date cache
    (it would push out the deadlines that many postings share).
    """
    if not text or text.startswith(_NO_FURTHER_STEP):
        return None
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass  # `optional_date` says what is wrong, in its words
        else:  # outside the range of real dates it means "none", as everywhere
            return value if EARLIEST <= value < FAR_FUTURE else None
    return optional_date(text, field, number)


def _any_date(text: str | None, field: str, number: str) -> datetime | None:
    if not text:
        return None
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    if _FAR_YEAR.match(text):  # far future, even where an offset would overflow a datetime
        return NO_DEADLINE
    try:
        return parse_datetime(text)
    except ValueError as err:
        raise ParseError(str(err), field=field, posting_number=number) from None
