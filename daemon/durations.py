"""Durations as people write them in the config: "90s", "5m", "4h", "2d", "1h30m".

`read_duration(text, minimum=..., maximum=...)` is the checked reading every setting uses: it
raises `DurationError` (a ValueError whose text is a one-line problem) for what is not a duration
and for a value out of range. Every setting has an upper bound (`MAX_DURATION`, one year and a
day, unless it says otherwise), so no value can overflow the date arithmetic later.
`parse_duration(text)` is the plain reading: None for anything that is not a duration no longer
than `LONGEST_DURATION`.

Pure functions over the standard library; imports nothing of the daemon.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = [
    "LONGEST_DURATION",
    "MAX_DURATION",
    "DurationError",
    "format_duration",
    "parse_duration",
    "read_duration",
]

MAX_DURATION = timedelta(days=366)
"""The upper bound of a duration setting unless it names its own."""
LONGEST_DURATION = timedelta(days=3653)
"""Ten years: the longest duration anything accepts (`keep_history`)."""

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_MAX_DIGITS: int = 12  # more digits than this is longer than any bound, whatever the unit
_SHOWN = 40  # characters of a bad value quoted in a problem


class DurationError(ValueError):
    """The text is not a duration, or is out of the allowed range; `str()` says which."""


def _seconds(text: str) -> int | None:
    """Total seconds of "1h30m"-style text, None when it is not such text. Amounts with too
    many digits to be meant give a number beyond every bound rather than a huge integer."""
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        return None
    total = 0
    for value, factor in zip(match.groups(), _UNITS.values(), strict=True):
        if value is None:
            continue
        if len(value.lstrip("0")) > _MAX_DIGITS:
            return int(10**_MAX_DIGITS * 86400)
        total += int(value) * factor
    return total


def _quoted(text: str) -> str:
    return f'"{text}"' if len(text) <= _SHOWN else f'"{text[:_SHOWN]}..."'


def read_duration(
    text: str,
    *,
    minimum: timedelta = timedelta(0),
    maximum: timedelta = MAX_DURATION,
) -> timedelta:
    """Read "1h30m"-style text (units d, h, m, s, largest first, each at most once) and check
    `minimum <= value <= maximum`.

    Returns the timedelta. Raises DurationError for text that is not a duration (empty,
    negative, unknown unit, units out of order, a bare number) and for a value out of range;
    the message quotes (the start of) the text and names the bound.
    """
    stripped = text.strip()
    seconds = _seconds(stripped)
    if seconds is None:
        raise DurationError(
            f'{_quoted(stripped)} is not a duration (use e.g. "90s", "5m", "1h30m", "2d")'
        )
    if seconds > maximum.total_seconds():
        raise DurationError(
            f'{_quoted(stripped)} is above the maximum of "{format_duration(maximum)}"'
        )
    value = timedelta(seconds=seconds)
    if value < minimum:
        raise DurationError(
            f'"{format_duration(value)}" is below the minimum of "{format_duration(minimum)}"'
        )
    return value


def parse_duration(text: str) -> timedelta | None:
    """Parse "1h30m"-style text (units d, h, m, s, largest first, each at most once).

    Returns the timedelta, or None when the text is not such a duration (empty, negative,
    unknown unit, units out of order, a bare number) or is longer than LONGEST_DURATION.
    """
    try:
        return read_duration(text, maximum=LONGEST_DURATION)
    except DurationError:
        return None


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way the config writes it: "2d", "1h30m", "0s" (whole seconds).

    Negative durations are formatted with a leading "-".
    """
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    if total == 0:
        return "0s"
    parts = []
    # Days only from three days on, so "24h" and "48h" read as people write them.
    units = _UNITS if total >= 3 * 86400 else {"h": 3600, "m": 60, "s": 1}
    for unit, factor in units.items():
        amount, total = divmod(total, factor)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + "".join(parts)
