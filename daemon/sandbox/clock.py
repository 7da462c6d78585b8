"""Sandbox time: the clock the simulated Ozon API lives by, and its RFC 3339 text form.

Inside the sandbox every moment is an `int` of microseconds since the Unix epoch (UTC): cheap to
compare and sort in the posting indexes, and exact (a cursor or a `last_changed_status_date` must
round-trip without losing a microsecond). Text is made only when a posting is serialized.

This module imports only the standard library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["US_PER_S", "Clock", "format_us", "from_us", "parse_rfc3339", "to_us"]

US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """Return the aware datetime `moment` as microseconds since the epoch.

    Raises ValueError for a naive datetime (the sandbox never guesses a time zone).
    """
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware (UTC) datetime")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(value: int) -> datetime:
    """Return microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=value)


def format_us(value: int) -> str:
    """Format microseconds since the epoch as Ozon does: `2026-11-26T10:00:00Z`.

    A non-zero fraction is written with its trailing zeros removed (`...:17.402Z`), like Ozon's
    own answers; the text parses back to exactly `value`.
    """
    seconds, micros = divmod(value, US_PER_S)
    text = from_us(seconds * US_PER_S).strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        text += "." + f"{micros:06d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 date-time with a `Z` or numeric offset into microseconds since the epoch.

    Raises ValueError when the text is not a date-time or has no offset (protobuf JSON
    requires one).
    """
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    head, fraction, tail = text, "", ""
    for sign in ("Z", "z", "+", "-"):
        idx = text.rfind(sign)
        if idx > 18:
            head, tail = text[:idx], text[idx:]
            break
    if not tail:
        raise ValueError(f"date-time without a time zone offset: {text!r}")
    if "." in head:
        head, fraction = head.split(".", 1)
        if not fraction.isdigit():
            raise ValueError(f"bad fraction of a second in {text!r}")
    parsed = datetime.fromisoformat(head + ("+00:00" if tail in ("Z", "z") else tail))
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return to_us(parsed) + micros


class Clock:
    """The sandbox's "now": a base clock plus an offset that tests may advance.

    `base` returns an aware datetime (default: the real UTC time). `advance(seconds)` moves
    sandbox time forward without sleeping, so scheduled scenario events become due.
    """

    def __init__(self, base: Callable[[], datetime] | None = None) -> None:
        self._base = base or (lambda: datetime.now(UTC))
        self._offset_us = 0
        self._lock = threading.Lock()

    def now_us(self) -> int:
        """Return the current sandbox time in microseconds since the epoch."""
        with self._lock:
            offset = self._offset_us
        return to_us(self._base()) + offset

    def now(self) -> datetime:
        """Return the current sandbox time as an aware UTC datetime."""
        return from_us(self.now_us())

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward by `seconds` (never backwards: raises ValueError if < 0)."""
        if seconds < 0:
            raise ValueError("sandbox time only moves forward")
        with self._lock:
            self._offset_us += round(seconds * US_PER_S)
