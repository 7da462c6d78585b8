"""The digest's lines about working calendars: each calendar's non-working days in the next 7
days and the postings due in or right after them (pure text in English, Chinese or Russian).

The digest payload carries them as `digest["closed_days"]` (built by `daemon.closed_days`):

    [{"calendar": "main", "days": ["2027-03-06", "2027-03-07", "2027-03-08"], "total": 2,
      "postings": [{"posting_number", "shipment_date" (RFC 3339), "warehouse"}, ...]}, ...]

PURE: imports only the standard library and the word tables (`notify.words`); `notify.render`
passes in its own cleaning of outside text and its deadline text (zone and Moscow time), so
the two modules do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from daemon.notify.words import WEEKDAYS, WORDS

__all__ = ["closed_days_text", "day_text"]


def day_text(day: date, language: str) -> str:
    """A date as a short weekday and month-day: "Mon 03-08", "周一 03-08", "пн 03-08"."""
    return f"{WEEKDAYS.get(language, WEEKDAYS['en'])[day.weekday()]} {day:%m-%d}"


def closed_days_text(
    alert: Mapping[str, Any],
    language: str,
    deadline_text: Callable[[datetime], str],
    clean: Callable[[str], str],
) -> str:
    """The lines to append to a digest's body (starting with a blank line), "" when its
    payload has no `closed_days`. `deadline_text(moment)` shows a deadline, `clean(text)` makes
    outside text safe."""
    w = WORDS.get(language, WORDS["en"])
    entries = (alert.get("digest") or {}).get("closed_days") or []
    lines = [f"\n\n{w['d_closed']}:"]
    for entry in entries:
        days = ", ".join(day_text(date.fromisoformat(str(d)), language) for d in entry["days"])
        total = int(entry.get("total") or 0)
        lines.append(f"{clean(str(entry['calendar']))}: {days}; {w['d_around']}: {total}")
        shown = entry.get("postings") or []
        for item in shown:
            moment = datetime.fromisoformat(str(item["shipment_date"]).replace("Z", "+00:00"))
            where = clean(str(item.get("warehouse") or "-"))
            lines.append(
                f"  {clean(str(item['posting_number']))} | {w['warehouse']}: {where} | "
                f"{w['deadline']}: {deadline_text(moment.astimezone(UTC))}"
            )
        if total > len(shown):
            lines.append("  " + w["more"].format(n=total - len(shown)))
    return "\n".join(lines) if len(lines) > 1 else ""
