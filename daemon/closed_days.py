"""The digest's look ahead at working calendars: each calendar's non-working days in the next 7
days, and the account's watched postings due in or right after them.

For every calendar that applies to the account's warehouses (the calendar listing a warehouse,
else the default one; all of them when the account watches every warehouse):

    days     the local days (in the calendar's zone) from today through today + 6 that are not
             working days (weekends, public holidays, `days_off`), grouped in runs of
             consecutive days
    postings the account's watched postings whose warehouse has that calendar and whose
             deadline falls, from now on, on a day of a run or on the first working day after
             it (when the warehouse opens again)

A calendar without a non-working day in those 7 days is left out. The digest's payload carries
the result as `digest["closed_days"]` (rendered by `daemon.notify.calendar_text`).

Imports the store, the models, the working-time arithmetic and policy_keys; never config.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from daemon.models import Posting
from daemon.policy_keys import rfc3339
from daemon.store import Store
from daemon.worktime import Calendar, WarehouseCalendars

__all__ = ["LISTED", "LOOK_AHEAD_DAYS", "closed_days"]

LOOK_AHEAD_DAYS = 7
LISTED = 10  # postings named per calendar in a digest (then "and N more")
_REOPENS_WITHIN = 60  # days searched for the working day after a run (a long Spring Festival)
_DAY = timedelta(days=1)


def closed_days(
    store: Store,
    account: str,
    calendars: WarehouseCalendars,
    warehouse_ids: Sequence[int],
    now: datetime,
) -> list[dict[str, Any]]:
    """The digest's `closed_days` of `account` at `now`: one entry per calendar with a
    non-working day in the next LOOK_AHEAD_DAYS days (`calendar`, `days` as ISO dates,
    `total` postings due in or right after them and the first LISTED of them); `warehouse_ids`
    are the warehouses the account watches (empty: all)."""
    if not calendars:
        return []
    wanted = _calendars_of(calendars, warehouse_ids)
    plans = [(calendar, _runs(calendar, now)) for calendar in wanted]
    plans = [(calendar, runs) for calendar, runs in plans if runs]
    if not plans:
        return []
    windows = [window for _, runs in plans for _, window in runs]
    due = store.watched_due_between(
        account, min(start for start, _ in windows), max(end for _, end in windows)
    )
    out = []
    for calendar, runs in plans:
        mine = [
            posting
            for posting in due
            if calendars.for_warehouse(posting.warehouse_id) is calendar
            and any(start <= posting.shipment_date < end for _, (start, end) in runs)
        ]
        out.append(
            {
                "calendar": calendar.name,
                "days": [day.isoformat() for days, _ in runs for day in days],
                "total": len(mine),
                "postings": [_described(posting) for posting in mine[:LISTED]],
            }
        )
    return out


def _calendars_of(calendars: WarehouseCalendars, warehouse_ids: Sequence[int]) -> list[Calendar]:
    """The calendars that apply to these warehouses (to any warehouse when none is given), in
    a stable order, each once."""
    if warehouse_ids:
        found = [calendars.for_warehouse(warehouse) for warehouse in warehouse_ids]
    else:
        found = [*calendars.by_warehouse.values(), calendars.default]
    unique: dict[int, Calendar] = {}
    for calendar in found:
        if calendar is not None:
            unique.setdefault(id(calendar), calendar)
    return sorted(unique.values(), key=lambda calendar: calendar.name)


def _runs(calendar: Calendar, now: datetime) -> list[tuple[list[date], tuple[datetime, datetime]]]:
    """The runs of non-working days in the calendar's next LOOK_AHEAD_DAYS local days, each
    with the window of deadlines due in or right after it: from the run's first day (not
    before `now`) to the end of the first working day after it (UTC)."""
    today = now.astimezone(calendar.zone).date()
    runs: list[list[date]] = []
    for offset in range(LOOK_AHEAD_DAYS):
        day = today + offset * _DAY
        if calendar.is_working_day(day):
            continue
        if runs and runs[-1][-1] == day - _DAY:
            runs[-1].append(day)
        else:
            runs.append([day])
    out = []
    for days in runs:
        reopens = _next_working_day(calendar, days[-1])
        last = reopens if reopens is not None else days[-1]
        start = max(_midnight(calendar, days[0]), now)
        out.append((days, (start, _midnight(calendar, last + _DAY))))
    return out


def _next_working_day(calendar: Calendar, after: date) -> date | None:
    for offset in range(1, _REOPENS_WITHIN + 1):
        day = after + offset * _DAY
        if calendar.is_working_day(day):
            return day
    return None


def _midnight(calendar: Calendar, day: date) -> datetime:
    """The start of local `day` in the calendar's zone, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=calendar.zone)


def _described(posting: Posting) -> dict[str, Any]:
    return {
        "posting_number": posting.posting_number,
        "shipment_date": rfc3339(posting.shipment_date),
        "warehouse": posting.warehouse_name,
    }
