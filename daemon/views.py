"""What `status` and `history` print: JSON for scripts, a table on a terminal, plain text else.

Pure presentation of store records: given the records and `now`, return text or JSON-ready
data. Text from Ozon is shown `plain` (no control, line-separator or bidi characters, capped)
and escaped for rich on a terminal, so no posting can break the table or the terminal.
Imports the store's record types, notify.render (time texts), worktime (working time left),
alert_facts (the ship-or-cancel advice) and rich; no I/O here except
writing to the stream the caller passes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from daemon.advice import DEFAULT_SHIP_WITHIN, Advice
from daemon.alert_facts import advice_json, posting_advice
from daemon.models import AccountRatings
from daemon.notify.render import MOSCOW, REASON_CAP, plain, span
from daemon.store import CachedPosting, HistoryEntry, HoldAll, SyncState, json_timestamp
from daemon.worktime import WarehouseCalendars, working_seconds_left

__all__ = [
    "ElementMemo",
    "history_json",
    "hold_all_line",
    "print_history",
    "print_json",
    "print_status",
    "status_json",
]

STALE_AFTER_INTERVALS = 3
NO_DEADLINE_TEXT = "no deadline"


def working_left(
    postings: Sequence[CachedPosting], now: datetime, calendars: WarehouseCalendars | None
) -> list[int | None]:
    """Whole seconds of working time left before each posting's deadline in the calendar of its
    warehouse (0 when none is left); None where no calendar applies (CONTRACT section 7)."""
    if not calendars:
        return [None] * len(postings)
    seen: dict[tuple[int, datetime], int] = {}  # many postings share a warehouse and deadline
    out: list[int | None] = []
    for item in postings:
        calendar = calendars.for_warehouse(item.posting.warehouse_id)
        if calendar is None:
            out.append(None)
            continue
        key = (id(calendar), item.posting.shipment_date)
        if key not in seen:
            seen[key] = working_seconds_left(calendar, now, item.posting.shipment_date)
        out.append(seen[key])
    return out


class ElementMemo:
    """What a caller asking for `status --json` elements again and again (the board, every
    15 s per screen) keeps between calls, so each element is built once and only its
    time-dependent parts each time. Entries are keyed by the id of the (frozen) CachedPosting
    they were made from and keep it (so the id cannot be reused while they live):

    - `fixed`: the element's parts that depend on the cached posting alone;
    - `advice`: a posting's advice with the account ratings it was weighed with and the span
      of time it holds for: the advice of a posting past its deadline changes only when its
      next tariff step starts or comes within the advice's `ship_within` of now (its reason
      leaves out how late the posting is), or when the ratings change.
    """

    __slots__ = ("advice", "fixed")

    def __init__(self) -> None:
        self.fixed: dict[int, tuple[CachedPosting, dict[str, Any]]] = {}
        self.advice: dict[
            int,
            tuple[CachedPosting, AccountRatings | None, datetime, datetime, dict[str, Any]],
        ] = {}

    def prune(self, postings: Sequence[CachedPosting]) -> None:
        """Drop the entries of postings not in `postings` once they are half the memo. Safe
        beside other threads using the memo (the board's requests run in threads): the
        mappings are copied in one step and replaced whole, never changed while iterated (an
        entry another thread adds meanwhile may be lost: it is made again when needed)."""
        if len(self.fixed) + len(self.advice) <= 4 * len(postings):
            return
        keep = {id(item) for item in postings}
        self.fixed = {key: value for key, value in list(self.fixed.items()) if key in keep}
        self.advice = {key: value for key, value in list(self.advice.items()) if key in keep}


def status_json(
    postings: Sequence[CachedPosting],
    now: datetime,
    calendars: WarehouseCalendars | None = None,
    ratings: Mapping[str, AccountRatings] | None = None,
    memo: ElementMemo | None = None,
) -> list[dict[str, Any]]:
    """`status --json` elements (CONTRACT sections 5 and 7), soonest deadline first.

    A posting without a deadline keeps the contract's types: `shipment_date` is Ozon's marker
    `9999-12-31T23:59:59Z`, `seconds_left` the (huge) integer to it, and `no_deadline` is true
    (false for every other posting), so scripts sorting by either put it last.

    `advice` (an extension) is the ship-or-cancel advice of a watched posting past its
    deadline, weighed with its account's kept `ratings` (none read yet where an account has
    none: `daemon.alert_facts.advice_json`); null for the others.

    With `memo` (see ElementMemo), what holds at `now` is taken from it for a posting seen
    before, and added to it for the others.
    """
    working = working_left(postings, now, calendars)
    advice = _advice(postings, now, ratings, memo)
    elements = []
    for item, left, advised in zip(postings, working, advice, strict=True):
        known = memo.fixed.get(id(item)) if memo is not None else None
        if known is not None and known[0] is item:
            element = known[1].copy()
        else:
            fixed = _fixed_part(item)
            if memo is not None:
                memo.fixed[id(item)] = (item, fixed)
            element = fixed.copy()
        element["seconds_left"] = item.seconds_left(now)
        element["working_seconds_left"] = left
        element["advice"] = advised
        elements.append(element)
    if memo is not None:
        memo.prune(postings)
    return elements


def _fixed_part(item: CachedPosting) -> dict[str, Any]:
    """A `status --json` element of `item` with the parts that change with the time (seconds
    left, working seconds left, advice) still None, in the contract's order."""
    posting = item.posting
    return {
        "account": item.account,
        "posting_number": item.posting_number,
        "status": posting.status,
        "substatus": posting.substatus,
        "shipment_date": json_timestamp(posting.shipment_date),
        "seconds_left": None,
        "no_deadline": not posting.has_deadline,
        "warehouse": posting.warehouse_name,
        "warehouse_id": posting.warehouse_id,
        "held": item.held,
        "held_until": json_timestamp(item.held_until) if item.held_until else None,
        "watched": item.watched,
        "departure": item.departure,
        "working_seconds_left": None,
        "requirements": list(posting.requirements),
        "next_tariff_at": (
            json_timestamp(posting.next_tariff_starts_at)
            if posting.next_tariff_starts_at is not None
            else None
        ),
        "acknowledged_by": item.acknowledged_by,
        "acknowledged_at": json_timestamp(item.acknowledged_at) if item.acknowledged_at else None,
        "advice": None,
    }


def _advice(
    postings: Sequence[CachedPosting],
    now: datetime,
    ratings: Mapping[str, AccountRatings] | None,
    memo: ElementMemo | None = None,
) -> list[dict[str, Any] | None]:
    """The advice of each watched posting past its deadline (None for the others)."""
    kept = ratings or {}
    out: list[dict[str, Any] | None] = []
    for item in postings:
        posting = item.posting
        if not (item.watched and posting.has_deadline and posting.shipment_date <= now):
            out.append(None)
            continue
        weighed = kept.get(item.account)
        known = memo.advice.get(id(item)) if memo is not None else None
        if (
            known is not None
            and known[0] is item
            and known[2] <= now < known[3]
            and (known[1] is weighed or known[1] == weighed)
        ):
            out.append(known[4])
            continue
        advice = posting_advice(posting, now, weighed)
        data = advice_json(advice)
        if memo is not None and advice.facts.late > timedelta(0):
            memo.advice[id(item)] = (item, weighed, now, _advice_holds_until(advice, now), data)
        out.append(data)
    return out


def _advice_holds_until(advice: Advice, now: datetime) -> datetime:
    """Until when (not included) the advice given at `now` stays the same: the moment its next
    tariff step comes within DEFAULT_SHIP_WITHIN (`step_soon`), else the moment it starts;
    for ever when there is no next step."""
    step = advice.facts.next_step_at
    if step is None:
        return datetime.max.replace(tzinfo=UTC)
    soon = step - DEFAULT_SHIP_WITHIN
    return soon if soon > now else step


def history_json(entries: Sequence[HistoryEntry]) -> list[dict[str, Any]]:
    """`history --json` elements (CONTRACT section 5), newest first."""
    return [entry.as_json() for entry in entries]


def print_json(data: object, out: TextIO) -> None:
    """`--json` output: `data` as indented JSON and nothing else (non-ASCII kept as is)."""
    out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _left(seconds: int) -> str:
    text = span(timedelta(seconds=seconds), "en")
    return f"{text} left" if seconds > 0 else f"overdue {text}"


def _working(seconds: int) -> str:
    return f"{span(timedelta(seconds=seconds), 'en')} working" if seconds > 0 else "none"


def _urgency(seconds: int) -> str:
    if seconds <= 0:
        return "bold red"
    if seconds < 4 * 3600:
        return "yellow"
    return "green"


def print_status(
    postings: Sequence[CachedPosting],
    states: Sequence[SyncState],
    now: datetime,
    zone: ZoneInfo,
    poll_interval: timedelta,
    out: TextIO,
    calendars: WarehouseCalendars | None = None,
    hold_all: HoldAll | None = None,
) -> None:
    """The status view: a coloured table on a terminal, plain aligned text otherwise; first
    a line about the emergency stop `hold_all` while it lasts. With calendars, a "working time
    left" column follows "time left" ("-": no calendar applies); an "acknowledged" column (who
    took each posting in hand) ends the table when any posting is acknowledged."""
    if hold_all is not None:
        out.write(hold_all_line(hold_all, zone) + "\n")
    console = Console(file=out, highlight=False, soft_wrap=True)
    terminal = console.is_terminal
    header = ["account", "posting", "status", "warehouse", f"deadline ({zone.key})", "MSK",
              "time left", "held"]  # fmt: skip
    rows = [_status_row(item, now, zone) for item in postings]
    if calendars:
        header.insert(7, "working time left")
        for row, left in zip(rows, working_left(postings, now, calendars), strict=True):
            row.insert(7, "-" if left is None else _working(left))
    if any(item.acknowledged_by for item in postings):
        header.append("acknowledged")
        for row, item in zip(rows, postings, strict=True):
            row.append(item.acknowledged_by or "")
    if not postings:
        out.write("No postings in the state cache yet (run `ozon-sync once` first).\n")
    elif terminal:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in header:
            table.add_column(column, no_wrap=True)
        for item, row in zip(postings, rows, strict=True):
            colour = _urgency(item.seconds_left(now)) if item.posting.has_deadline else "green"
            cells = [escape(cell) for cell in row]  # text from Ozon is no rich markup
            table.add_row(*cells[:6], f"[{colour}]{cells[6]}[/]", *cells[7:])
        console.print(table)
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            out.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
            out.write("\n")
    for state in states:
        out.write(_sync_line(state, now, zone, poll_interval) + "\n")


def hold_all_line(hold_all: HoldAll, zone: ZoneInfo) -> str:
    """One line saying that the emergency stop (`hold --all`) is in force, and until when."""
    until = (
        f"until {hold_all.until.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
        if hold_all.until is not None
        else "until `ozon-sync release --all`"
    )
    return (
        f"EMERGENCY STOP (hold --all since {hold_all.held_at.astimezone(zone):%Y-%m-%d %H:%M}): "
        f"every posting of every account is held {until}; nothing is cancelled"
    )


def _status_row(item: CachedPosting, now: datetime, zone: ZoneInfo) -> list[str]:
    deadline = item.posting.shipment_date
    if not item.posting.has_deadline:
        local, moscow, left = NO_DEADLINE_TEXT, "-", NO_DEADLINE_TEXT
    else:
        local, moscow = _clock(deadline, zone, "%Y-%m-%d %H:%M"), _clock(deadline, MOSCOW, "%H:%M")
        left = _left(item.seconds_left(now))
    held = "yes" if item.held else ""
    if item.held and item.held_until:
        held = f"until {item.held_until.astimezone(zone):%m-%d %H:%M}"
    status = plain(item.posting.status)
    status = status if item.watched else f"{status} (left watch)"
    return [
        item.account,
        plain(item.posting_number),
        status,
        plain(item.posting.warehouse_name) or "-",
        local,
        moscow,
        left,
        held,
    ]


def _clock(moment: datetime, zone: ZoneInfo, form: str) -> str:
    """`moment` in `zone`; its UTC text where the zone cannot hold it (a row cached by an old
    version from a date outside the range parse.py now accepts)."""
    try:
        return moment.astimezone(zone).strftime(form)
    except (OverflowError, ValueError):
        return json_timestamp(moment)


def _sync_line(state: SyncState, now: datetime, zone: ZoneInfo, interval: timedelta) -> str:
    if state.last_success_at is None:
        text = f"{state.account}: never synced successfully"
    else:
        age = now - state.last_success_at
        text = (
            f"{state.account}: last successful sync "
            f"{state.last_success_at.astimezone(zone):%Y-%m-%d %H:%M:%S} "
            f"({span(age, 'en')} ago)"
        )
        if age > STALE_AFTER_INTERVALS * interval:
            text += " STALE"
    if state.consecutive_failures:
        text += f"; failing ({state.consecutive_failures}x): {plain(state.last_error, REASON_CAP)}"
    return text


def print_history(entries: Sequence[HistoryEntry], zone: ZoneInfo, out: TextIO) -> None:
    """The history view, newest first, one line per entry."""
    if not entries:
        out.write("No alerts or actions yet.\n")
        return
    for entry in entries:
        numbers = ", ".join(plain(number) for number in entry.posting_numbers[:5])
        if len(entry.posting_numbers) > 5:
            numbers += f" and {len(entry.posting_numbers) - 5} more"
        dry = " (dry run)" if entry.dry_run else ""
        reason = f": {plain(entry.reason, REASON_CAP)}" if entry.reason else ""
        out.write(
            f"{entry.at.astimezone(zone):%Y-%m-%d %H:%M:%S} {entry.account} "
            f"{entry.event}{dry} {numbers}{reason}\n"
        )
