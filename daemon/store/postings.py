"""Store verbs about postings: the cached snapshot and its change history (the reports on them
are `daemon.store.reports`).

The hot path is `upsert_postings`: each posting is encoded once (msgspec JSON, the codec of the
models' own Structs) and hashed; the stored hashes of just the given postings are read with one
query per call, and only new or changed rows are written, with `executemany`, in one transaction.
A cycle over unchanged data therefore writes no row at all. Ozon's JSON of the shipping-speed
tariff is kept only for postings past their deadline (see `_encode`).

Imports only the standard library, msgspec (the models' codec) and the store's modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from daemon.models import Posting
from daemon.store.acks import CURRENT_ACK
from daemon.store.base import StoreBase
from daemon.store.cached import DecodedPostings, Stored, cached, decode_row, held
from daemon.store.errors import StoreError
from daemon.store.holds import hold_all_in_force
from daemon.store.records import (
    CachedPosting,
    DamagedValue,
    PostingChange,
    UpsertResult,
    from_text,
    to_text,
)

__all__ = ["DecodedPostings", "PostingVerbs"]

_log = logging.getLogger(__name__)

_ENCODER = msgspec.json.Encoder()
_NULL = msgspec.Raw(b"null")

_EXISTING = """
    SELECT posting_number, hash, watched, status, shipment_date FROM postings
    WHERE account = ? AND posting_number IN (SELECT value FROM json_each(?))
"""
_INSERT = """
    INSERT INTO postings (account, posting_number, status, shipment_date, hash, data, watched,
                          first_seen, last_changed)
    VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT), 1, ?, ?)
"""
_REWATCH = """
    UPDATE postings SET status = ?, shipment_date = ?, hash = ?, data = CAST(? AS TEXT),
        watched = 1, last_changed = ?, departed_at = NULL, departure = NULL, shipped_late = NULL
    WHERE account = ? AND posting_number = ?
"""
_DEPART = """
    UPDATE postings SET status = :status, shipment_date = :deadline, hash = :hash,
        data = CAST(:data AS TEXT),
        last_changed = CASE WHEN hash = :hash THEN last_changed ELSE :now END, watched = 0,
        departed_at = coalesce(departed_at, :now), departure = :kind, shipped_late = :late
    WHERE account = :account AND posting_number = :number
"""
_HISTORY = """
    INSERT INTO posting_history (account, posting_number, at, field, old, new)
    VALUES (?, ?, ?, ?, ?, ?)
"""
_STORED = (
    "p.data, p.watched, p.first_seen, p.last_changed, p.departed_at, p.departure, p.status, "
    "p.shipment_date, p.account, p.posting_number"
)
_STORED_COLUMNS = 10
_ANNOTATIONS = f"""
    h.posting_number IS NOT NULL, h.until, a.by_name, a.at
    FROM postings AS p LEFT JOIN holds AS h ON h.posting_number = p.posting_number
    LEFT JOIN acknowledgements AS a ON a.id = ({CURRENT_ACK})
"""
_SELECT = f"SELECT p.account, p.posting_number, p.hash, {_STORED}, {_ANNOTATIONS}"
# The postings' keys and content hashes without their data: every column read lies before
# `data` in the row, so SQLite never walks a posting's overflow pages for them.
_KEYS = "SELECT p.account, p.posting_number, p.hash, p.rowid, {watched}, " + _ANNOTATIONS
_STORED_BY_ROWID = (
    f"SELECT p.rowid, {_STORED} FROM postings AS p "  # noqa: S608 - constant text
    "WHERE p.rowid IN (SELECT value FROM json_each(?))"
)


def _encode(posting: Posting, now: datetime) -> tuple[bytes, str]:
    """The posting's JSON (UTF-8 bytes, stored as TEXT by `CAST(? AS TEXT)` in SQLite without
    decoding it in Python: an unchanged posting never pays for that) and its content hash.

    Ozon's JSON of the shipping-speed tariff (about 1.2 KB) is kept only for a posting past its
    deadline at `now`, the one the ship-or-cancel advice of `status`/the board needs it for; an
    alert reads it from the posting just synced. Without it a row fits 4 to a database page,
    with it 1 (it was read for every posting of every sync only to be written here)."""
    if posting.shipment_date > now and (
        len(posting.tariffication) > 4 or len(posting.tariffication_steps) > 4
    ):
        posting = msgspec.structs.replace(posting, tariffication=_NULL, tariffication_steps=_NULL)
    data = _ENCODER.encode(posting)
    return data, hashlib.blake2b(data, digest_size=16).hexdigest()


def _departure(posting: Posting) -> str:
    if posting.status == "cancelled_from_split_pending":
        return "split"
    return "cancelled" if posting.status.startswith("cancel") else "shipped"


class PostingVerbs(StoreBase):
    """Verbs on cached postings and digest counts (mixed into Store)."""

    def upsert_postings(
        self, account: str, postings: Iterable[Posting], now: datetime
    ) -> UpsertResult:
        """Cache `postings` (currently watched by `account`) as seen at `now`.

        New postings are inserted; a posting whose content hash changed (or that had departed)
        is rewritten, with history rows for a changed status or shipment_date; an unchanged one
        is not touched. All given postings end up watched. A posting number given twice counts
        once (the last one wins). Bulk verb: call it through `asyncio.to_thread`.
        Returns the new postings, the changed ones with their previous status and deadline, and
        the number of unchanged ones.
        """
        now_text = to_text(now)
        given: dict[str, tuple[Posting, bytes, str]] = {}
        for posting in postings:
            given[posting.posting_number] = (posting, *_encode(posting, now))
        new: list[Posting] = []
        changed: list[PostingChange] = []
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        history: list[tuple[str, ...]] = []
        with self._write() as conn:
            existing = self._existing(conn, account, given)
            for number, (posting, data, digest) in given.items():
                row = existing.get(number)
                if row is None:
                    new.append(posting)
                    inserts.append(
                        (
                            account,
                            number,
                            posting.status,
                            to_text(posting.shipment_date),
                            digest,
                            data,
                            now_text,
                            now_text,
                        )
                    )
                    continue
                _, old_hash, watched, old_status, old_deadline = row
                try:
                    previous = from_text(old_deadline)
                except DamagedValue:  # damaged outside ozon-sync: rewrite it, report no move
                    previous, old_hash = posting.shipment_date, ""
                if old_hash == digest and watched:
                    continue
                changed.append(PostingChange(posting, old_status, previous, bool(watched)))
                deadline = to_text(posting.shipment_date)
                updates.append((posting.status, deadline, digest, data, now_text, account, number))
                history.extend(
                    _history_rows(account, number, now_text, old_status, old_deadline, posting)
                )
            inserts.sort()  # in primary-key order: in-order B-tree inserts are cheaper
            conn.executemany(_INSERT, inserts)
            conn.executemany(_REWATCH, updates)
            conn.executemany(_HISTORY, history)
        return UpsertResult(
            new=tuple(new), changed=tuple(changed), unchanged=len(given) - len(new) - len(changed)
        )

    def mark_departed(self, account: str, postings: Iterable[Posting], now: datetime) -> int:
        """Record that `postings` of `account` left the watch (shipped, cancelled, split...).

        Give each posting as last read from Ozon (new status, cancellation...). They stay cached
        (visible with `status --all`) but are no longer watched. Departure kinds: "split"
        (cancelled_from_split_pending), "cancelled" (any other cancelled status), else
        "shipped", late when `delivering_date` (or `now` without one) is after shipment_date.
        Postings not in the cache are ignored; re-marking a departed posting keeps its first
        departure time. Returns how many cached rows were changed.
        """
        now_text = to_text(now)
        given = {p.posting_number: (p, *_encode(p, now)) for p in postings}
        updates: list[dict[str, Any]] = []
        history: list[tuple[str, ...]] = []
        with self._write() as conn:
            existing = self._existing(conn, account, given)
            for number, (posting, data, digest) in given.items():
                row = existing.get(number)
                if row is None or (row[1] == digest and not row[2]):
                    continue
                kind = _departure(posting)
                late: int | None = None
                if kind == "shipped":
                    left = posting.delivering_date or now
                    late = int(left > posting.shipment_date)
                updates.append(
                    {
                        "status": posting.status,
                        "deadline": to_text(posting.shipment_date),
                        "hash": digest,
                        "data": data,
                        "now": now_text,
                        "kind": kind,
                        "late": late,
                        "account": account,
                        "number": number,
                    }
                )
                history.extend(_history_rows(account, number, now_text, row[3], row[4], posting))
            conn.executemany(_DEPART, updates)
            conn.executemany(_HISTORY, history)
        return len(updates)

    def _existing(
        self, conn: sqlite3.Connection, account: str, numbers: Iterable[str]
    ) -> dict[str, tuple[Any, ...]]:
        wanted = json.dumps(list(numbers))
        return {row[0]: row for row in conn.execute(_EXISTING, (account, wanted))}

    def postings(
        self,
        now: datetime,
        *,
        account: str | None = None,
        include_departed: bool = False,
        decoded: DecodedPostings | None = None,
    ) -> list[CachedPosting]:
        """Cached postings, soonest deadline first: watched ones, or all with include_departed.

        `account` limits them to one account; `now` decides whether a hold has expired.
        Bulk read (decodes every posting): call it through `asyncio.to_thread` for big caches.
        With `decoded` (kept by the caller between calls) only the postings whose content
        changed since the last call with it are read in full and decoded.
        """
        where = []
        params: list[str] = []
        if account is not None:
            where.append("p.account = ?")
            params.append(account)
        if not include_departed:
            where.append("p.watched = 1")
        # For watched postings alone the flag is known: reading it would walk their data.
        sql = _KEYS.format(watched="p.watched" if include_departed else "1")
        sql += " WHERE " + " AND ".join(where) if where else ""
        sql += " ORDER BY p.shipment_date, p.account, p.posting_number"
        known = decoded.entries if decoded is not None else {}
        made_before = decoded.made if decoded is not None else {}
        with self._read() as conn:
            everything = hold_all_in_force(conn, now)
            rows = conn.execute(sql, params).fetchall()
            missing = [row[3] for row in rows if (*row[:3], bool(row[4])) not in known]
            fetched: dict[int, Stored | None] = {}
            damaged: list[tuple[str, str, DamagedValue, bool]] = []
            for stored in conn.execute(_STORED_BY_ROWID, (json.dumps(missing),)):
                fetched[stored[0]] = decode_row(stored[1:], damaged)
        self._repair(damaged)
        entries: dict[tuple[str, str, str, bool], Stored] = {}
        made: dict[tuple[str, str, str, bool], tuple[tuple[Any, ...], CachedPosting]] = {}
        found = []
        for row in rows:
            key = (row[0], row[1], row[2], bool(row[4]))
            stored = known.get(key) or fetched[row[3]]
            if stored is None:
                continue  # not even its status and deadline can be read: `_repair` said so
            if not stored[6]:  # one shown from its columns alone is read again next time
                entries[key] = stored
            annotations = (*row[5:], *held(row[5], row[6], now, everything))
            previous = made_before.get(key)
            if previous is not None and previous[0] == annotations:
                item = previous[1]
            else:
                item = cached(row[0], stored, annotations)
            made[key] = (annotations, item)
            found.append(item)
        if decoded is not None:
            decoded.entries, decoded.made = entries, made
        return found

    def posting(
        self, posting_number: str, now: datetime, *, account: str | None = None
    ) -> CachedPosting | None:
        """The cached posting `posting_number` (of `account`, else of any account), or None."""
        sql = _SELECT + " WHERE p.posting_number = ? AND (? IS NULL OR p.account = ?)"
        with self._read() as conn:
            row = conn.execute(sql + " LIMIT 1", (posting_number, account, account)).fetchone()
            everything = hold_all_in_force(conn, now)
        if row is None:
            return None
        damaged: list[tuple[str, str, DamagedValue, bool]] = []
        stored = decode_row(row[3 : 3 + _STORED_COLUMNS], damaged)
        self._repair(damaged)
        if stored is None:
            return None
        at = 3 + _STORED_COLUMNS
        annotations = (*row[at:], *held(row[at], row[at + 1], now, everything))
        return cached(row[0], stored, annotations)

    def _repair(self, damaged: list[tuple[str, str, DamagedValue, bool]]) -> None:
        """Warn about each cached posting whose copy could not be decoded and, when this store
        may write, clear its content hash so that the next sync rewrites it from Ozon's data
        (an unchanged posting is otherwise never rewritten). Nothing is deleted."""
        for account, number, problem, shown in damaged:
            _log.warning(
                'cached posting %s of account "%s" cannot be read from the state database '
                '"%s" (%s); %s until ozon-sync reads it from Ozon again',
                number, account, self.path, problem,
                "shown from its status and deadline alone" if shown else "left out",
            )  # fmt: skip
        if not damaged or self.mode == "reader":
            return
        # A read must not fail for want of its repair.
        with contextlib.suppress(StoreError), self._write() as conn:
            conn.executemany(
                "UPDATE postings SET hash = '' WHERE account = ? AND posting_number = ?",
                [(account, number) for account, number, _, _ in damaged],
            )

    def posting_numbers(self, prefix: str = "") -> list[str]:
        """Every cached posting number starting with `prefix` (any account, departed ones
        too), sorted, each once. Cheap: no decoding. The prefix is compared as it is (not a LIKE
        pattern: any text works, case counts)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT posting_number FROM postings "
                "WHERE substr(posting_number, 1, length(?1)) = ?1 ORDER BY posting_number",
                (prefix,),
            )
            return [row[0] for row in rows]

    def watched_numbers(self, account: str) -> set[str]:
        """Posting numbers `account` currently watches (cheap: no decoding)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT posting_number FROM postings WHERE account = ? AND watched = 1", (account,)
            )
            return {row[0] for row in rows}

    def watched_due_between(self, account: str, start: datetime, end: datetime) -> list[Posting]:
        """`account`'s watched postings whose shipment_date is in [start, end), soonest first
        (decodes only those: for a digest's look at the days ahead)."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_STORED} FROM postings AS p WHERE p.account = ? AND p.watched = 1 "  # noqa: S608 - constant text
                "AND p.shipment_date >= ? AND p.shipment_date < ? "
                "ORDER BY p.shipment_date, p.posting_number",
                (account, to_text(start), to_text(end)),
            ).fetchall()
        damaged: list[tuple[str, str, DamagedValue, bool]] = []
        found = [decode_row(row, damaged) for row in rows]
        self._repair(damaged)
        return [stored[0] for stored in found if stored is not None]


def _history_rows(
    account: str, number: str, at: str, old_status: str, old_deadline: str, posting: Posting
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    if posting.status != old_status:
        rows.append((account, number, at, "status", old_status, posting.status))
    deadline = to_text(posting.shipment_date)
    if deadline != old_deadline:
        rows.append((account, number, at, "shipment_date", old_deadline, deadline))
    return rows
