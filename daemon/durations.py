"""Durations as people write them in the config: "90s", "5m", "4h", "2d", "1h30m".

Pure functions over the standard library; imports nothing of the daemon.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta | None:
    """Parse "1h30m"-style text (units d, h, m, s, largest first, each at most once).

    Returns the timedelta, or None when the text is not such a duration (empty, negative,
    unknown unit, units out of order, a bare number).
    """
    text = text.strip()
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        return None
    seconds = sum(
        int(value) * factor
        for value, factor in zip(match.groups(), _UNITS.values(), strict=True)
        if value is not None
    )
    return timedelta(seconds=seconds)


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
