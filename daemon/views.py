"""What `status` and `history` print: JSON for scripts, a table on a terminal, plain text else.

Pure presentation of store records: given the records and `now`, return text or JSON-ready
data. Imports the store's record types, notify.render (time texts) and rich; no I/O here
except writing to the stream the caller passes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from daemon.notify.render import MOSCOW, span
from daemon.store import CachedPosting, HistoryEntry, SyncState, json_timestamp

__all__ = ["history_json", "print_history", "print_json", "print_status", "status_json"]

STALE_AFTER_INTERVALS = 3


def status_json(postings: Sequence[CachedPosting], now: datetime) -> list[dict[str, Any]]:
    """`status --json` elements (CONTRACT section 5), soonest deadline first."""
    return [
        {
            "account": item.account,
            "posting_number": item.posting_number,
            "status": item.posting.status,
            "substatus": item.posting.substatus,
            "shipment_date": json_timestamp(item.posting.shipment_date),
            "seconds_left": item.seconds_left(now),
            "warehouse": item.posting.warehouse_name,
            "warehouse_id": item.posting.warehouse_id,
            "held": item.held,
            "held_until": json_timestamp(item.held_until) if item.held_until else None,
            "watched": item.watched,
            "departure": item.departure,
        }
        for item in postings
    ]


def history_json(entries: Sequence[HistoryEntry]) -> list[dict[str, Any]]:
    """`history --json` elements (CONTRACT section 5), newest first."""
    return [entry.as_json() for entry in entries]


def print_json(data: object, out: TextIO) -> None:
    """`--json` output: `data` as indented JSON and nothing else (non-ASCII kept as is)."""
    out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _left(seconds: int) -> str:
    text = span(timedelta(seconds=seconds), "en")
    return f"{text} left" if seconds > 0 else f"overdue {text}"


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
) -> None:
    """The status view: a coloured table on a terminal, plain aligned text otherwise."""
    console = Console(file=out, highlight=False, soft_wrap=True)
    terminal = console.is_terminal
    header = ["account", "posting", "status", "warehouse", f"deadline ({zone.key})", "MSK",
              "time left", "held"]  # fmt: skip
    rows = [_status_row(item, now, zone) for item in postings]
    if not postings:
        out.write("No postings in the state cache yet (run `ozon-sync once` first).\n")
    elif terminal:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in header:
            table.add_column(column, no_wrap=True)
        for item, row in zip(postings, rows, strict=True):
            colour = _urgency(item.seconds_left(now))
            table.add_row(*row[:6], f"[{colour}]{row[6]}[/]", row[7])
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


def _status_row(item: CachedPosting, now: datetime, zone: ZoneInfo) -> list[str]:
    deadline = item.posting.shipment_date
    held = "yes" if item.held else ""
    if item.held and item.held_until:
        held = f"until {item.held_until.astimezone(zone):%m-%d %H:%M}"
    status = item.posting.status if item.watched else f"{item.posting.status} (left watch)"
    return [
        item.account,
        item.posting_number,
        status,
        item.posting.warehouse_name or "-",
        f"{deadline.astimezone(zone):%Y-%m-%d %H:%M}",
        f"{deadline.astimezone(MOSCOW):%H:%M}",
        _left(item.seconds_left(now)),
        held,
    ]


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
        text += f"; failing ({state.consecutive_failures}x): {state.last_error}"
    return text


def print_history(entries: Sequence[HistoryEntry], zone: ZoneInfo, out: TextIO) -> None:
    """The history view, newest first, one line per entry."""
    if not entries:
        out.write("No alerts or actions yet.\n")
        return
    for entry in entries:
        numbers = ", ".join(entry.posting_numbers[:5])
        if len(entry.posting_numbers) > 5:
            numbers += f" and {len(entry.posting_numbers) - 5} more"
        dry = " (dry run)" if entry.dry_run else ""
        reason = f": {entry.reason}" if entry.reason else ""
        out.write(
            f"{entry.at.astimezone(zone):%Y-%m-%d %H:%M:%S} {entry.account} "
            f"{entry.event}{dry} {numbers}{reason}\n"
        )
