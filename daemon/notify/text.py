"""The building blocks of every notification text: `Message`, a route's `MessageLimit`, `clean`
/ `plain` for text that comes from outside, the word table of a language, spans, statuses and
deadlines. PURE: no I/O, no clock. `daemon.notify.render` re-exports the public names.

Imports only the standard library and its word tables (`notify.words`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from daemon.notify.words import STATUSES, UNITS, WORDS

MAX_LISTED = 20
FIELD_CAP = 120  # characters of one outside field (a warehouse name, a reason) in a message
REASON_CAP = 300  # characters of an account-level error text (api_error)
MOSCOW = ZoneInfo("Europe/Moscow")
NO_DEADLINE_YEAR = 2100  # from this year on a shipment_date is Ozon's "none" (see ozon/parse.py)
_MARKUP = re.compile(r"[*_`\[\]~|#\\]")
# C0 and C1 controls, DEL, LINE SEPARATOR, PARAGRAPH SEPARATOR (NEXT LINE is C1): each one is
# a space; bidi controls (embeddings, overrides, isolates, marks) are removed outright, so
# outside text can neither break a line nor reorder what a reader sees.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Message:
    """A rendered alert: a short title and a plain-text body."""

    title: str
    body: str


def parse_time(text: str) -> datetime:
    """Parse the RFC 3339 UTC text the payloads carry into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def clean(text: str, cap: int = FIELD_CAP) -> str:
    """Text from outside (Ozon, error messages) made safe for any parser and any screen: no
    markup characters, no C0/C1 controls, no line or paragraph separators, no bidi controls,
    and at most `cap` characters (cut with an ellipsis)."""
    text = _MARKUP.sub(" ", _unbroken(text).replace("->", "→"))
    return _capped(text.strip(), cap)


def plain(text: str, cap: int = FIELD_CAP) -> str:
    """Text from outside made safe for a terminal: as `clean`, but markup characters stay."""
    return _capped(_unbroken(text).strip(), cap)


def _unbroken(text: str) -> str:
    text = _BIDI.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    return _BREAKS.sub(" ", text)


def _capped(text: str, cap: int) -> str:
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + "…"
    return text


@dataclass(frozen=True)
class MessageLimit:
    """How much one route's service takes: `size` in `unit` ("bytes" of UTF-8, or "chars"
    counted as UTF-16 code units, the way Telegram counts, never fewer than code points).
    `title_in_body`: the service has no title field, so the title is sent as the first line
    of the body (Apprise joins them with CR LF) and counts too."""

    size: int
    unit: Literal["bytes", "chars"] = "chars"
    title_in_body: bool = True

    def measure(self, message: Message) -> int:
        """The size of `message` as the service counts it."""
        text = message.body
        if self.title_in_body and message.title:
            text = f"{message.title}\r\n{text}"
        if self.unit == "bytes":
            return len(text.encode("utf-8"))
        return len(text.encode("utf-16-le")) // 2

    def fits(self, message: Message) -> bool:
        """True when the service takes `message` whole."""
        return self.measure(message) <= self.size


def words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["en"])


def span(delta: timedelta, language: str) -> str:
    """A duration for people, two largest units: "2d 3h", "2天3小时", "2д 3ч"."""
    seconds = abs(int(delta.total_seconds()))
    units = UNITS.get(language, UNITS["en"])
    counts: list[tuple[int, str]] = []
    for size, unit in zip((86400, 3600, 60, 1), units, strict=True):
        count, seconds = divmod(seconds, size)
        counts.append((count, unit))
    first = next((index for index, (count, _) in enumerate(counts) if count), 3)
    parts = [f"{count}{unit}" for count, unit in counts[first : first + 2] if count]
    joiner = "" if language == "zh" else " "
    return joiner.join(parts) or f"0{units[3]}"


def status_text(status: str, language: str) -> str:
    """Ozon's status in words of `language` (the raw value when there is no translation)."""
    known = STATUSES.get(language, STATUSES["en"]).get(status)
    return known if known is not None else clean(status.replace("_", " "))


def deadline_text(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` in the configured zone and in Moscow time: "2026-11-26 18:00 Asia/Shanghai
    (13:00 MSK)"; only once when the zone is Moscow's."""
    local = moment.astimezone(zone)
    moscow = moment.astimezone(MOSCOW)
    if local.utcoffset() == moscow.utcoffset() and zone.key == MOSCOW.key:
        return f"{moscow:%Y-%m-%d %H:%M} MSK"
    same_day = local.date() == moscow.date()
    msk = f"{moscow:%H:%M}" if same_day else f"{moscow:%Y-%m-%d %H:%M}"
    return f"{local:%Y-%m-%d %H:%M} {zone.key} ({msk} MSK)"


def has_deadline(moment: datetime) -> bool:
    """False for Ozon's "no deadline" marker (any year from NO_DEADLINE_YEAR on)."""
    return moment.year < NO_DEADLINE_YEAR
