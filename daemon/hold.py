"""What `hold`, `release` and `ack` do with a number a person typed: find what it names among
the cached postings (one posting, or an order and all its postings), hold, release or
acknowledge that, and say which postings it was.

A typo must not look like success: a number that names no cached posting is refused
(`HoldRefused`, exit 2 in the CLI) with the closest cached numbers, unless `force` holds it
anyway (a posting not synced yet). An order number (`12345678-0001`, a posting number without
its last `-N`) is never held as such, since no posting carries it: its cached postings are.
An acknowledgement (`ack`, the board's button) is kept with the deadline each posting has now,
so it needs a cached posting: `ack` has no `force`.

Imports only the standard library and the store; no config, no secrets, no Ozon.
"""

from __future__ import annotations

import difflib
import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from daemon.store import CachedPosting, Store

__all__ = [
    "ACK_NAME_MAX",
    "NUMBER_MAX",
    "ORDER_NUMBER",
    "HoldRefused",
    "HoldTarget",
    "ack_name",
    "acknowledge",
    "acknowledged_text",
    "closest_numbers",
    "find_target",
    "held_text",
    "hold",
    "hold_all_text",
    "posting_number",
    "release",
    "release_all_text",
    "released_text",
]

ORDER_NUMBER = re.compile(r"^\d+-\d+$")
"""An order number: digits, a dash, digits (`12345678-0001`); its postings add `-N`."""
NUMBER_MAX = 64
"""The longest posting number a cached posting can have (`daemon.ozon.posting` refuses longer
ones from Ozon; Ozon's own are like 12345678-0001-1)."""
CLOSEST = 3
SHORTLIST = 100
ACK_NAME_MAX = 64
_SHOWN = 24  # characters of a refused number the message quotes


class HoldRefused(ValueError):
    """The number names no cached posting; the message names the closest cached ones."""


@dataclass(frozen=True)
class HoldTarget:
    """What a typed number names: the posting numbers, and the order number when it named an
    order. `postings` holds the cached postings (empty for a forced, not yet synced one)."""

    numbers: tuple[str, ...]
    order: str | None = None
    postings: tuple[CachedPosting, ...] = ()


def _order_parts(store: Store, order: str) -> list[str]:
    """Cached posting numbers of the order `order` (`order-N`, N without a dash)."""
    head = order + "-"
    return [n for n in store.posting_numbers(head) if "-" not in n[len(head) :]]


def posting_number(text: str) -> str:
    """`text` as typed, stripped, when it can be a posting or order number: 1 to NUMBER_MAX
    printable characters (what the cache can hold). Raises HoldRefused saying why not, quoting
    at most the first few characters of it."""
    number = text.strip()
    if not number:
        raise HoldRefused("give a posting number such as 12345678-0001-1")
    shown = number if len(number) <= _SHOWN else number[:_SHOWN] + "..."
    shown = shown.encode("unicode_escape").decode("ascii")
    if len(number) > NUMBER_MAX:
        raise HoldRefused(
            f'"{shown}" ({len(number)} characters) is not a posting number: Ozon\'s are like '
            f"12345678-0001-1, at most {NUMBER_MAX} characters"
        )
    if not number.isprintable():
        raise HoldRefused(
            f'"{shown}" holds control or line-break characters; a posting number is like '
            "12345678-0001-1"
        )
    return number


def find_target(
    store: Store,
    text: str,
    now: datetime,
    *,
    force: bool = False,
    verb: Literal["hold", "ack"] = "hold",
) -> HoldTarget:
    """The postings `text` names: a cached posting number, or an order number with cached
    postings; with `force`, an uncached posting number as it is.

    Raises HoldRefused for a text that is no number (see `posting_number`), for an order
    number with no cached posting (even with `force`: holding it would protect nothing), and,
    without `force`, for a number no cached posting has (naming the closest cached numbers).
    `verb` is the command the messages advise ("ack" has no --force).
    """
    number = posting_number(text)
    if store.posting(number, now) is not None:
        return HoldTarget((number,), None, _cached(store, [number], now))
    parts = _order_parts(store, number)
    if parts:
        return HoldTarget(tuple(parts), number, _cached(store, parts, now))
    if ORDER_NUMBER.match(number):
        advice = (
            f"hold a posting by its own number (such as {number}-1) with --force, or run "
            "`ozon-sync once` first"
            if verb == "hold"
            else "run `ozon-sync once` first"
        )
        raise HoldRefused(
            f"{number} is an order number and no posting of it is cached yet; {advice}"
        )
    if force:
        return HoldTarget((number,))
    close = closest_numbers(number, store.posting_numbers())
    hint = f"closest cached: {', '.join(close)}" if close else "no cached posting looks like it"
    advice = (
        "hold it anyway with --force (a posting not synced yet)"
        if verb == "hold"
        else "run `ozon-sync once` first if the posting is new"
    )
    raise HoldRefused(
        f"no cached posting is numbered {number} ({hint}); check the number, or {advice}"
    )


def closest_numbers(number: str, candidates: Iterable[str], n: int = CLOSEST) -> list[str]:
    """The up to `n` numbers of `candidates` most like `number` (difflib's ratio >= 0.6),
    closest first; [] when none is close.

    difflib alone takes seconds over 100,000 numbers made of the same ten digits, so a cheap
    shortlist comes first: characters equal at the same place, counted from the start or from
    the end (so a missing or extra digit still lines up one side).
    """
    if not number or len(number) > NUMBER_MAX:  # no cached number is like that: skip the work
        return []
    reverse = number[::-1]

    def alike(candidate: str) -> int:
        ahead = sum(map(str.__eq__, number, candidate))
        behind = sum(map(str.__eq__, reverse, candidate[::-1]))
        return max(ahead, behind) - abs(len(candidate) - len(number))

    shortlist = heapq.nlargest(SHORTLIST, candidates, key=alike)
    return difflib.get_close_matches(number, shortlist, n=n, cutoff=0.6)


def _cached(store: Store, numbers: list[str], now: datetime) -> tuple[CachedPosting, ...]:
    found = (store.posting(number, now) for number in numbers)
    return tuple(item for item in found if item is not None)


def hold(
    store: Store, text: str, until: datetime | None, now: datetime, *, force: bool = False
) -> HoldTarget:
    """Hold every posting `text` names (see `find_target`) until `until` (None: until
    released); returns what was held. Raises HoldRefused as `find_target` does."""
    target = find_target(store, text, now, force=force)
    for number in target.numbers:
        store.hold(number, until, now)
    return target


def release(store: Store, text: str) -> list[str]:
    """Release the hold on the posting `text` names, or on every held posting of the order it
    names; returns the posting numbers released (empty: nothing was held). Raises HoldRefused
    for a text that is no number (see `posting_number`)."""
    number = posting_number(text)
    if store.release(number):
        return [number]
    return [part for part in _order_parts(store, number) if store.release(part)]


def ack_name(text: str) -> str:
    """Who acknowledges, as given to `ack --by` or the board: stripped, 1 to ACK_NAME_MAX
    printable characters. Raises ValueError saying what is wrong."""
    name = text.strip()
    if not name:
        raise ValueError("the name of who takes the posting in hand is empty")
    if len(name) > ACK_NAME_MAX:
        raise ValueError(f"the name is longer than {ACK_NAME_MAX} characters")
    if not name.isprintable():
        raise ValueError("the name holds control characters")
    return name


def acknowledge(store: Store, text: str, by: str, now: datetime) -> HoldTarget:
    """Record that `by` (checked by `ack_name`) took in hand every cached posting `text` names
    (see `find_target`), each for the deadline it has now; returns what was acknowledged.
    Raises HoldRefused as `find_target` does (an uncached number is never acknowledged)."""
    target = find_target(store, text, now, verb="ack")
    for item in target.postings:
        store.acknowledge(item.account, item.posting_number, item.posting.shipment_date, by, now)
    return target


# -- what the commands print ------------------------------------------------------------------


def _until(until: datetime | None, zone: ZoneInfo, otherwise: str) -> str:
    return f"until {until.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})" if until else otherwise


def held_text(target: HoldTarget, until: datetime | None, zone: ZoneInfo) -> str:
    """What `hold POSTING` prints: the posting held, or the order's postings, one a line."""
    when = _until(until, zone, "until released")
    if target.order is None:
        known = "" if target.postings else " (not synced yet)"
        return (
            f"{target.numbers[0]}{known} is held {when}: it will not be cancelled and gets no "
            "overdue repeats.\n"
        )
    lines = [
        f"Order {target.order}: {len(target.numbers)} postings held {when}; they will not be "
        "cancelled and get no overdue repeats:"
    ]
    lines += [f"  {p.posting_number}  {p.posting.status}  {p.account}" for p in target.postings]
    return "\n".join(lines) + "\n"


def hold_all_text(until: datetime | None, zone: ZoneInfo) -> str:
    """What `hold --all` prints."""
    when = _until(until, zone, "until `ozon-sync release --all`")
    return (
        f"Emergency stop: every posting of every account is held {when}; nothing is cancelled "
        "while it lasts.\n"
    )


def released_text(text: str, released: list[str]) -> str:
    """What `release POSTING` prints, given what `release` released."""
    if not released:
        return f"{text.strip()} was not held.\n"
    if released == [text.strip()]:
        return f"{released[0]} released.\n"
    return f"Order {text.strip()}: released {', '.join(released)}.\n"


def release_all_text(ended: bool) -> str:
    """What `release --all` prints, given whether an emergency stop was in force."""
    if not ended:
        return "No emergency stop was in force.\n"
    return (
        "Emergency stop ended: cancelling works as configured again (postings held one by one "
        "stay held).\n"
    )


def acknowledged_text(target: HoldTarget, by: str, zone: ZoneInfo) -> str:
    """What `ack POSTING` prints: the postings acknowledged, each with the deadline it is for."""

    def deadline(item: CachedPosting) -> str:
        return f"{item.posting.shipment_date.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"

    if target.order is None:
        item = target.postings[0]
        return (
            f"{item.posting_number} acknowledged by {by} for its deadline {deadline(item)}; "
            "a moved deadline clears it.\n"
        )
    lines = [f"Order {target.order}: {len(target.postings)} postings acknowledged by {by}:"]
    lines += [
        f"  {item.posting_number}  {item.posting.status}  {item.account}  {deadline(item)}"
        for item in target.postings
    ]
    return "\n".join(lines) + "\n"
