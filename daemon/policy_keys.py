"""Ledger keys and time texts of the deadline policy, in one place.

A ledger key (`daemon.models.LedgerKey`) is (posting_number, event, step); the ledger records
each key once, and an alert is generated only for a key not recorded yet. The step strings are
built only here:

    event                step                example
    reminder             "<S>@<D>"           "4h@2026-11-26T10:00:00Z", "1h30m@2026-11-26T10:00:00Z"
    overdue              "#<k>@<D>"          "#0@2026-11-26T10:00:00Z" (first), "#1@..." (repeat 1)
    deadline_changed     "<old D>-><new D>"  "2026-11-26T10:00:00Z->2026-11-27T10:00:00Z"
    would_cancel         "@<D>"              "@2026-11-26T10:00:00Z"
    at_risk              "@<D>"              "@2026-11-26T10:00:00Z"
    cancelled_elsewhere  "cancelled"
    tariff_step          "@<T>"              "@2026-11-26T10:00:01Z"
    needs_data           "<list>=<skus>;..." "products_requiring_gtd=1658203344,1702299810"
    escalated            "<N>@<D>"           "1@2026-11-26T10:00:00Z" (level 1 for deadline D)

S is a reminder step in hours, minutes and seconds ("24h", "1h30m", "45s"); D is the
shipment_date the decision was computed against, RFC 3339 UTC with "Z" (microseconds only when
present); k = (now - D) // overdue_repeat, 0 for a held posting or overdue_repeat "0s". T is
the `next_tariff_starts_at` the warning is about; a needs_data step lists the posting's
non-empty `requirements.*` lists by name with their SKUs, sorted, so a changed set of missing
data is a new step and the same set never fires twice. Because
every step carries its deadline, a moved shipment_date re-arms reminders, overdue alerts and
would_cancel, while the same deadline never fires the same step twice.

This module imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

__all__ = [
    "CANCELLED_ELSEWHERE_STEP",
    "ESCALATED",
    "at_risk_step",
    "deadline_changed_step",
    "escalation_step",
    "format_span",
    "format_step",
    "needs_data_step",
    "overdue_step",
    "reminder_step",
    "rfc3339",
    "tariff_step_step",
    "tariff_warn_at",
    "would_cancel_step",
]

CANCELLED_ELSEWHERE_STEP = "cancelled"
ESCALATED = "escalated"  # the ledger's event of an escalation step (history: `escalated`)
# Texts are cached: a cycle formats the same few deadlines and steps for every posting of a
# page (many postings share a shipment_date), and formatting is the policy's main cost.
_CACHED_DEADLINES = 8192


@lru_cache(maxsize=_CACHED_DEADLINES)
def rfc3339(moment: datetime) -> str:
    """`moment` as RFC 3339 UTC text with "Z" (microseconds only when present)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=256)
def format_step(duration: timedelta) -> str:
    """A duration as a compact config-style string: "24h", "1h30m", "45s", "0s"."""
    seconds = int(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts) or "0s"


def format_span(duration: timedelta) -> str:
    """A duration for people: its two largest units, rounded down ("2d 3h", "3h 59m", "45s")."""
    seconds = max(0, int(duration.total_seconds()))
    parts: list[str] = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    return " ".join(part for part in parts[:2] if not part.startswith("0")) or "0s"


@lru_cache(maxsize=_CACHED_DEADLINES)
def reminder_step(step: timedelta, deadline: datetime) -> str:
    """The ledger step of the reminder for `step` before `deadline`."""
    return f"{format_step(step)}@{rfc3339(deadline)}"


def overdue_step(repeat: int, deadline: datetime) -> str:
    """The ledger step of overdue alert number `repeat` (0 = the first) for `deadline`."""
    return f"#{repeat}@{rfc3339(deadline)}"


def deadline_changed_step(old: datetime, new: datetime) -> str:
    """The ledger step of a move of shipment_date from `old` to `new`."""
    return f"{rfc3339(old)}->{rfc3339(new)}"


def escalation_step(level: int, deadline: datetime) -> str:
    """The ledger step (event ESCALATED) of escalation level `level` for `deadline`."""
    return f"{level}@{rfc3339(deadline)}"


def would_cancel_step(deadline: datetime) -> str:
    """The ledger step of the `would_cancel` report for a posting with `deadline`."""
    return f"@{rfc3339(deadline)}"


def at_risk_step(deadline: datetime) -> str:
    """The ledger step of the `at_risk` alert for a posting with `deadline`: once per
    posting and deadline (a moved deadline can be at risk again)."""
    return f"@{rfc3339(deadline)}"


def tariff_warn_at(starts_at: datetime | None, warn_before: timedelta) -> datetime | None:
    """When the `tariff_step` alert about a tariff step starting at `starts_at` is due:
    `warn_before` earlier. None when there is no next step (`next_tariff_starts_at` is None:
    Ozon sent null or its 9999-12-31 marker) or warnings are off (`warn_before` "0s").
    The alert belongs to the window `tariff_warn_at <= now < starts_at`; once the step has
    started, it is too late to warn."""
    if starts_at is None or warn_before <= timedelta(0):
        return None
    return starts_at - warn_before


def tariff_step_step(starts_at: datetime) -> str:
    """The ledger step of the `tariff_step` alert about the tariff step starting at
    `starts_at`: one alert per posting and step start, a moved start warns again."""
    return f"@{rfc3339(starts_at)}"


def needs_data_step(requirements: Iterable[tuple[str, Iterable[int]]]) -> str:
    """The ledger step of the `needs_data` alert for a set of missing data: (list name, SKUs)
    pairs such as `(r.name, r.skus) for r in posting.requirement_skus`, sorted by name and SKU
    ("" for none: nothing to alert). A new list or SKU makes a new step; the same set, in any
    order, the same one."""
    parts = sorted(
        f"{name}={','.join(str(sku) for sku in sorted(set(skus)))}" for name, skus in requirements
    )
    return ";".join(parts)
