"""Store verbs about holds: a seller's hold on one posting and the emergency stop (`hold --all`).

A hold is kept by posting number, in any account, cached or not (it may precede the posting).
The emergency stop is one row: while it lasts every posting of every account counts as held.
Both are small writes, safe beside a running writer (mode "annotate").

Imports only the standard library and the store's modules.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from daemon.store.base import StoreBase
from daemon.store.records import HoldAll, Holds, from_text, optional_from_text, to_text

__all__ = ["HoldVerbs", "hold_all_in_force"]

_HOLD_ALL = "SELECT until, held_at FROM hold_all WHERE until IS NULL OR until > ?"
_IS_HELD = (
    "SELECT 1 FROM holds WHERE posting_number = ? AND (until IS NULL OR until > ?) "
    "UNION ALL SELECT 1 FROM hold_all WHERE until IS NULL OR until > ? LIMIT 1"
)


class HoldVerbs(StoreBase):
    """Hold, release and the emergency stop (mixed into Store)."""

    def hold(self, posting_number: str, until: datetime | None, now: datetime) -> None:
        """Hold `posting_number` (in any account, cached or not) until `until` (None: forever).

        A held posting is never cancelled and gets no overdue repeats. Holding again replaces
        the previous hold. Small write: safe beside a running writer (mode "annotate").
        """
        with self._write() as conn:
            conn.execute(
                "INSERT INTO holds (posting_number, until, held_at) VALUES (?, ?, ?) "
                "ON CONFLICT (posting_number) DO UPDATE SET until = excluded.until, "
                "held_at = excluded.held_at",
                (posting_number, None if until is None else to_text(until), to_text(now)),
            )

    def release(self, posting_number: str) -> bool:
        """Remove the hold on `posting_number`; returns False when there was none."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM holds WHERE posting_number = ?", (posting_number,))
            return cursor.rowcount > 0

    def holds(self, now: datetime) -> Holds:
        """Holds in force at `now`: posting number -> until (None: no expiry), a mapping that
        also counts every posting as held while the emergency stop lasts (see `Holds`)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT posting_number, until FROM holds WHERE until IS NULL OR until > ?",
                (to_text(now),),
            ).fetchall()
            everything = hold_all_in_force(conn, now)
        return Holds({number: optional_from_text(until) for number, until in rows}, everything)

    def is_held(self, posting_number: str, now: datetime) -> bool:
        """True when `posting_number` must not be cancelled at `now`: held by itself, or every
        posting is held (`hold --all`). Cheap: ask it right before every cancel request."""
        at = to_text(now)
        with self._read() as conn:
            return conn.execute(_IS_HELD, (posting_number, at, at)).fetchone() is not None

    def hold_all(self, until: datetime | None, now: datetime) -> None:
        """The emergency stop: from `now` until `until` (None: until `release_all`) no posting
        of any account is cancelled. Setting it again replaces the previous end."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO hold_all (id, until, held_at) VALUES (1, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET until = excluded.until, held_at = excluded.held_at",
                (None if until is None else to_text(until), to_text(now)),
            )

    def release_all(self, now: datetime) -> bool:
        """End the emergency stop (holds of single postings stay); False when none was in
        force at `now` (an expired one is removed too)."""
        with self._write() as conn:
            active = hold_all_in_force(conn, now) is not None
            conn.execute("DELETE FROM hold_all")
            return active

    def global_hold(self, now: datetime) -> HoldAll | None:
        """The emergency stop in force at `now`, or None."""
        with self._read() as conn:
            return hold_all_in_force(conn, now)


def hold_all_in_force(conn: sqlite3.Connection, now: datetime) -> HoldAll | None:
    """The emergency stop in force at `now` (read on `conn`, inside the caller's transaction),
    or None; an expired one counts as none."""
    row = conn.execute(_HOLD_ALL, (to_text(now),)).fetchone()
    return None if row is None else HoldAll(optional_from_text(row[0]), from_text(row[1]))
