"""Cached postings read back: a row's columns decoded into a CachedPosting, and the cache of
decoded postings a caller may keep between reads (`DecodedPostings`).

A posting's JSON copy damaged outside ozon-sync (SQLite's integrity check does not look inside
values) is rebuilt from its own status and deadline columns, so it still shows; `decoded`
reports it to the caller, which warns and has it rewritten.

Imports only the standard library, msgspec, daemon.models and the store's records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from daemon.models import Posting
from daemon.store.records import (
    CachedPosting,
    DamagedValue,
    HoldAll,
    damaged,
    from_text,
    later_end,
    optional_from_text,
)

__all__ = ["DecodedPostings", "Stored", "cached", "decode_row", "held"]

_DECODER = msgspec.json.Decoder(Posting)

Stored = tuple[Posting, bool, datetime, datetime, "datetime | None", "str | None", bool]


class DecodedPostings:
    """Postings decoded by earlier `postings(..., decoded=...)` reads, by account, number,
    content hash and watch flag (so an entry is right as long as those four match).

    A caller that reads the same postings again and again (the board: every 15 s for every
    screen) keeps one and passes it each time: then only postings whose content changed since
    are read in full and decoded. Holds and acknowledgements are read fresh every time. Safe
    to share between threads: each read replaces the mapping whole, with what it saw. (One
    approximation: a posting whose content changed and changed back between two reads keeps
    the `last_changed` of the first read.)
    """

    __slots__ = ("entries", "made")

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str, bool], Stored] = {}
        # The CachedPosting made last time from each entry, with the hold and acknowledgement
        # it was made with: the same again gives the same (frozen) object, not a new one.
        self.made: dict[tuple[str, str, str, bool], tuple[tuple[Any, ...], CachedPosting]] = {}


def decode_row(
    row: tuple[Any, ...], problems: list[tuple[str, str, DamagedValue, bool]]
) -> Stored | None:
    """The _STORED columns of a row, decoded: (posting, watched, first_seen, last_changed,
    departed_at, departure, degraded).

    A posting whose JSON copy cannot be decoded (damaged outside ozon-sync) is rebuilt from its
    own status and deadline columns (`degraded` True), so it still shows; a row whose columns
    cannot be read either gives None. Either is added to `problems` (account, number, problem,
    shown) for `_repair`."""
    data, watched, first_seen, last_changed, departed_at, departure = row[:6]
    status, deadline, account, number = row[6:]
    degraded = False
    try:
        try:
            posting = _DECODER.decode(data)
            if posting.posting_number != number:
                raise damaged("a copy of another posting:", posting.posting_number)
        except (msgspec.DecodeError, TypeError, DamagedValue) as err:
            problem = err if isinstance(err, DamagedValue) else damaged("posting", data)
            problems.append((account, number, problem, True))
            degraded = True
            deadline = from_text(deadline)
            posting = Posting(posting_number=number, status=status, shipment_date=deadline)
        return (
            posting,
            bool(watched),
            from_text(first_seen),
            from_text(last_changed),
            optional_from_text(departed_at),
            departure,
            degraded,
        )
    except DamagedValue as err:
        if problems and problems[-1][1] == number:
            problems.pop()
        problems.append((account, number, err, False))
        return None


def held(
    has_hold: object, until: str | None, now: datetime, everything: HoldAll | None
) -> tuple[bool, datetime | None]:
    """(held, held_until) at `now` of a posting with a hold row (`has_hold`, its `until`).
    While the emergency stop `everything` lasts every posting is held, until the later end of
    its own hold and that one."""
    held_until = optional_from_text(until)
    held = bool(has_hold) and (held_until is None or held_until > now)
    if everything is not None:
        held_until = later_end(held_until, everything.until) if held else everything.until
        held = True
    return held, held_until


def cached(account: str, stored: Stored, annotations: tuple[Any, ...]) -> CachedPosting:
    """A cached posting with its `annotations`: (has_hold, until, acknowledged by, at, held,
    held_until), the last two from `held`."""
    posting, watched, first_seen, last_changed, departed_at, departure, _ = stored
    _, _, acked_by, acked_at, held, held_until = annotations
    return CachedPosting(
        account=account,
        posting=posting,
        watched=watched,
        held=held,
        held_until=held_until,
        first_seen=first_seen,
        last_changed=last_changed,
        departed_at=departed_at,
        departure=departure,
        acknowledged_by=acked_by,
        acknowledged_at=optional_from_text(acked_at),
    )
