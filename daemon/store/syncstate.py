"""Store verbs for each account's sync state: the last success and failure, the failure streak
and whether its `api_error` went out (compare-and-set, like the journal's verbs). Error texts
are masked against every known secret (`daemon.redact`) before they are written.

Imports only the standard library, `daemon.redact` and the store's modules.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from daemon.redact import redact_text
from daemon.store.base import StoreBase
from daemon.store.records import SyncState, optional_from_text, to_text

__all__ = ["SyncStateVerbs"]

_SYNC_COLUMNS = (
    "account, last_success_at, last_failure_at, failing_since, consecutive_failures, "
    "last_error, api_error_alerted"
)


class SyncStateVerbs(StoreBase):
    """Each account's sync state (see the module docstring)."""

    def record_sync_success(self, account: str, now: datetime) -> bool:
        """Record a successful sync of `account` at `now` (also: when postings were last seen).

        Returns True when this ends a failure streak (send `recovered` if `api_error` went out:
        read `get_sync_state(...).api_error_alerted` before calling).
        """
        with self._write() as conn:
            before = _sync_state(conn, account)
            conn.execute(
                "INSERT INTO sync_state (account, last_success_at) VALUES (?, ?) "
                "ON CONFLICT (account) DO UPDATE SET last_success_at = excluded.last_success_at, "
                "failing_since = NULL, consecutive_failures = 0, last_error = '', "
                "api_error_alerted = 0",
                (account, to_text(now)),
            )
        return before.consecutive_failures > 0

    def record_sync_failure(self, account: str, error: str, now: datetime) -> bool:
        """Record a failed sync of `account` (after retries); True when a failure streak starts.

        `error` is a one-line description without secrets; it is kept as `last_error`.
        """
        at = to_text(now)
        with self._write() as conn:
            before = _sync_state(conn, account)
            conn.execute(
                "INSERT INTO sync_state (account, last_failure_at, failing_since, "
                "consecutive_failures, last_error) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (account) DO UPDATE SET last_failure_at = excluded.last_failure_at, "
                "failing_since = coalesce(failing_since, excluded.failing_since), "
                "consecutive_failures = consecutive_failures + 1, last_error = excluded.last_error",
                (account, at, at, redact_text(error)),
            )
        return before.consecutive_failures == 0

    def mark_api_error_alerted(self, account: str) -> bool:
        """Note that `api_error` was alerted for the current failure streak of `account`.

        Compare-and-set: True only for the call that set it (and only while failing).
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE sync_state SET api_error_alerted = 1 WHERE account = ? AND "
                "consecutive_failures > 0 AND api_error_alerted = 0",
                (account,),
            )
            return cursor.rowcount == 1

    def get_sync_state(self, account: str) -> SyncState:
        """The sync state of `account` (a blank one if it was never synced)."""
        with self._read() as conn:
            return _sync_state(conn, account)

    def sync_states(self) -> list[SyncState]:
        """The sync state of every account ever synced, by account name."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SYNC_COLUMNS} FROM sync_state ORDER BY account"  # noqa: S608 - constant columns
            ).fetchall()
        return [_sync_row(row) for row in rows]


def _sync_state(conn: sqlite3.Connection, account: str) -> SyncState:
    row = conn.execute(
        f"SELECT {_SYNC_COLUMNS} FROM sync_state WHERE account = ?",  # noqa: S608 - constant columns
        (account,),
    ).fetchone()
    return SyncState(account=account) if row is None else _sync_row(row)


def _sync_row(row: tuple[Any, ...]) -> SyncState:
    return SyncState(
        account=row[0],
        last_success_at=optional_from_text(row[1]),
        last_failure_at=optional_from_text(row[2]),
        failing_since=optional_from_text(row[3]),
        consecutive_failures=row[4],
        last_error=row[5],
        api_error_alerted=bool(row[6]),
    )
