"""Store verbs that make things happen at most once: the alert ledger and the action journal
(per-account sync state is in `daemon.store.syncstate`).

Both are compare-and-set: the database decides which call "won" (a primary key or a partial
unique index), inside one `BEGIN IMMEDIATE` transaction, so a second thread, a restart or a
second process can never generate an alert twice or cancel a posting twice. Reasons and error
texts are masked against every known secret (`daemon.redact`) before they are written.

Imports only the standard library, daemon.models (LedgerKey), `daemon.redact` and the store's
modules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, get_args

from daemon.models import LedgerKey
from daemon.redact import redact_text
from daemon.store.base import StoreBase
from daemon.store.records import (
    Action,
    ActionOutcome,
    from_text,
    optional_from_text,
    to_text,
)

__all__ = ["JournalVerbs"]

_ACTION_COLUMNS = (
    "id, account, posting_number, kind, dry_run, reason, claimed_at, outcome, outcome_reason, "
    "unknown_at, finished_at"
)
_FIRED = "SELECT posting_number, event, step FROM alert_ledger WHERE account = ?"
_FIRED_AMONG = (
    "SELECT posting_number, event, step FROM alert_ledger WHERE account = ? "
    "AND posting_number IN (SELECT value FROM json_each(?))"
)


class JournalVerbs(StoreBase):
    """Ledger, action journal and sync-state verbs (mixed into Store)."""

    # -- alert ledger -------------------------------------------------------------------------

    def record_alert_keys(
        self, account: str, keys: Iterable[LedgerKey | tuple[str, str, str]], now: datetime
    ) -> list[tuple[str, str, str]]:
        """Record alert keys of `account` fired at `now`; return those that were new, as given
        (a LedgerKey and its plain (posting_number, event, step) tuple are equal).

        Only the returned keys may produce alerts: a key already in the ledger (from an earlier
        cycle, a restart or a concurrent call) is ignored. Order follows `keys`, duplicates once.
        """
        at = to_text(now)
        wanted = dict.fromkeys(keys)  # a LedgerKey equals and hashes as its plain tuple
        if not wanted:
            return []
        with self._write() as conn:  # BEGIN IMMEDIATE: nobody else writes between the two
            numbers = _json_list(dict.fromkeys(key[0] for key in wanted))
            known = set(conn.execute(_FIRED_AMONG, (account, numbers)))
            fresh = [key for key in wanted if key not in known]
            # In primary-key order: B-tree inserts in order cost a third of random ones.
            conn.executemany(
                "INSERT INTO alert_ledger (account, posting_number, event, step, at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(account, number, event, step, at) for number, event, step in sorted(fresh)],
            )
        return fresh

    def fired_keys(
        self, account: str, posting_numbers: Iterable[str] | None = None
    ) -> set[tuple[str, str, str]]:
        """Alert keys of `account` already in the ledger (of those postings, when given), as
        (posting_number, event, step) tuples: equal to the LedgerKeys they were recorded as."""
        with self._read() as conn:
            if posting_numbers is None:
                return set(conn.execute(_FIRED, (account,)))
            return set(conn.execute(_FIRED_AMONG, (account, _json_list(posting_numbers))))

    def fired_times(
        self, account: str, keys: Iterable[LedgerKey | tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], datetime]:
        """When each of these ledger keys of `account` was recorded, for those in the ledger
        (keyed by plain (posting_number, event, step) tuples); {} without a query for none."""
        wanted = set(keys)
        if not wanted:
            return {}
        numbers = _json_list(dict.fromkeys(key[0] for key in wanted))
        with self._read() as conn:
            rows = conn.execute(
                "SELECT posting_number, event, step, at FROM alert_ledger WHERE account = ? "
                "AND posting_number IN (SELECT value FROM json_each(?))",
                (account, numbers),
            ).fetchall()
        return {
            (number, event, step): from_text(at)
            for number, event, step, at in rows
            if (number, event, step) in wanted
        }

    # -- action journal -----------------------------------------------------------------------

    def claim_action(
        self,
        account: str,
        posting_number: str,
        kind: str,
        now: datetime,
        *,
        dry_run: bool,
        reason: str,
        client_id: str = "",
    ) -> int | None:
        """Claim the right to act (`kind`, e.g. "cancel") on a posting; the claim id, or None.

        None means a claim for the same account (or the same `client_id`, the shop: another
        config entry of it, or the account under its old name), posting, kind and dry-run flag
        exists that is open, done, of unknown outcome, or was ever of unknown outcome (even if
        later settled as failed: its request may have reached Ozon): only the call that
        created a claim may act, so a posting never gets a second cancel unless every earlier
        one is known not to have been applied (refused, or never sent). Record the intent
        right before acting and `finish_action` after.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO actions (account, posting_number, kind, dry_run, reason, claimed_at, "
                "client_id) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM actions "
                "WHERE posting_number = ? AND kind = ? AND dry_run = ? AND unknown_at IS NOT NULL "
                "AND (account = ? OR (? != '' AND client_id = ?))) ON CONFLICT DO NOTHING",
                (
                    account, posting_number, kind, int(dry_run), redact_text(reason),
                    to_text(now), client_id, posting_number, kind, int(dry_run), account,
                    client_id, client_id,
                ),
            )  # fmt: skip
            return cursor.lastrowid if cursor.rowcount == 1 else None

    def record_planned(
        self, account: str, kind: str, plans: Iterable[tuple[str, str]], now: datetime
    ) -> list[str]:
        """Journal dry-run actions (`kind` on posting, with a reason) as planned and done at
        `now`, each posting once: the same as `claim_action(..., dry_run=True)` followed by
        `finish_action(id, "done", now)` for every plan, in one transaction and one statement.
        Returns the posting numbers planned now (not already planned), in the order given.
        """
        at = to_text(now)
        wanted = dict(plans)  # posting number -> reason
        if not wanted:
            return []
        with self._write() as conn:  # BEGIN IMMEDIATE: nobody else writes between the two
            known = {
                row[0]
                for row in conn.execute(
                    "SELECT posting_number FROM actions WHERE account = ? AND kind = ? "
                    "AND dry_run = 1 AND outcome IS NOT 'failed' AND outcome IS NOT 'skipped' "
                    "AND posting_number IN (SELECT value FROM json_each(?))",
                    (account, kind, _json_list(wanted)),
                )
            }
            fresh = [number for number in wanted if number not in known]
            conn.executemany(
                "INSERT INTO actions (account, posting_number, kind, dry_run, reason, claimed_at, "
                "outcome, finished_at) VALUES (?, ?, ?, 1, ?, ?, 'done', ?)",
                [(account, number, kind, redact_text(wanted[number]), at, at) for number in fresh],
            )
        return fresh

    def finish_action(
        self, action_id: int, outcome: ActionOutcome, now: datetime, *, reason: str = ""
    ) -> None:
        """Record the outcome of claimed action `action_id` at `now`.

        "done", "failed" and "skipped" are final ("failed" and "skipped" free the posting for a
        new claim); "unknown" (e.g. a timeout on the cancel call) keeps the claim until a later
        re-read resolves it with "done" or "failed". "skipped" says the action was decided
        against without acting (no request sent; history: `cancel_skipped`), so it must not
        follow "unknown". `reason` says why (an error text: never a secret).
        Raises ValueError for an unknown id, an invalid outcome or an already final action.
        """
        if outcome not in get_args(ActionOutcome):
            raise ValueError(f"outcome must be one of {get_args(ActionOutcome)}, not {outcome!r}")
        at = to_text(now)
        reason = redact_text(reason)
        with self._write() as conn:
            row = conn.execute("SELECT outcome FROM actions WHERE id = ?", (action_id,)).fetchone()
            if row is None:
                raise ValueError(f"no action with id {action_id}")
            if row[0] in ("done", "failed", "skipped"):
                raise ValueError(f"action {action_id} is already final ({row[0]})")
            if outcome == "skipped" and row[0] == "unknown":
                raise ValueError(
                    f"action {action_id} may have acted (outcome unknown): it cannot be skipped"
                )
            if outcome == "unknown":
                conn.execute(
                    "UPDATE actions SET outcome = 'unknown', outcome_reason = ?, "
                    "unknown_at = coalesce(unknown_at, ?) WHERE id = ?",
                    (reason, at, action_id),
                )
            else:
                conn.execute(
                    "UPDATE actions SET outcome = ?, outcome_reason = ?, finished_at = ? "
                    "WHERE id = ?",
                    (outcome, reason, at, action_id),
                )

    def record_skipped(
        self,
        account: str,
        posting_number: str,
        kind: str,
        now: datetime,
        *,
        reason: str,
        dry_run: bool = False,
    ) -> int:
        """Journal a planned action (`kind`, e.g. "cancel") decided against at `now` without
        claiming or acting: no request was sent. `reason` says why (never a secret).

        For a claim already made, use `finish_action(id, "skipped", now, reason=...)` instead.
        A skipped entry is final, blocks no later claim and is not a claim for
        `latest_action`; `history` shows it as `cancel_skipped` (kind `action`) with its
        reason. Returns the journal entry's id.
        """
        at = to_text(now)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO actions (account, posting_number, kind, dry_run, reason, claimed_at, "
                "outcome, outcome_reason, finished_at) VALUES (?, ?, ?, ?, '', ?, 'skipped', ?, ?)",
                (account, posting_number, kind, int(dry_run), at, redact_text(reason), at),
            )
            assert cursor.lastrowid is not None  # noqa: S101 - an INSERT always sets it
            return cursor.lastrowid

    def open_actions(self, account: str | None = None, *, client_id: str = "") -> list[Action]:
        """Claims without a final outcome (never finished, or "unknown"), oldest first: all, or
        those of `account` and, when given, of any account of `client_id` (a renamed account).

        After a crash or an unknown outcome the executor re-reads each posting and resolves the
        claim with `finish_action`.
        """
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_ACTION_COLUMNS} FROM actions WHERE (outcome IS NULL OR "  # noqa: S608 - constant columns
                "outcome = 'unknown') AND (? IS NULL OR account = ? OR (? != '' AND "
                "client_id = ?)) ORDER BY id",
                (account, account, client_id, client_id),
            ).fetchall()
        return [_action(row) for row in rows]

    def latest_action(
        self,
        account: str,
        posting_number: str,
        kind: str = "cancel",
        *,
        dry_run: bool | None = None,
    ) -> Action | None:
        """The newest claim of `kind` on a posting (any outcome but "skipped": a skipped
        action sent nothing; only dry-run or only real ones when `dry_run` says so), or None.

        Tells "cancelled by this daemon" apart from "cancelled elsewhere".
        """
        sql = (
            f"SELECT {_ACTION_COLUMNS} FROM actions WHERE account = ? AND "  # noqa: S608 - constant columns
            "posting_number = ? AND kind = ? AND outcome IS NOT 'skipped'"
        )
        params: tuple[object, ...] = (account, posting_number, kind)
        if dry_run is not None:
            sql += " AND dry_run = ?"
            params += (int(dry_run),)
        with self._read() as conn:
            row = conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
        return None if row is None else _action(row)

    def may_have_acted(
        self, account: str, posting_number: str, kind: str = "cancel", *, client_id: str = ""
    ) -> bool:
        """True when a real (not dry-run) claim of `kind` on the posting (by `account` or, when
        given, any account of `client_id`) is done, still open, or ever had an unknown outcome
        (even if later settled as failed): the request may have reached Ozon, so a
        cancellation that turns up is this daemon's, never someone else's."""
        return bool(self.acted_among(account, [posting_number], kind, client_id=client_id))

    def acted_among(
        self,
        account: str,
        posting_numbers: Iterable[str],
        kind: str = "cancel",
        *,
        client_id: str = "",
    ) -> set[str]:
        """Those of `posting_numbers` for which `may_have_acted` is true, in one query."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT posting_number FROM actions WHERE (account = ? OR (? != '' AND "
                "client_id = ?)) AND posting_number IN (SELECT value FROM json_each(?)) "
                "AND kind = ? AND dry_run = 0 AND (outcome IS NULL OR outcome IN ('done', "
                "'unknown') OR unknown_at IS NOT NULL)",
                (account, client_id, client_id, _json_list(posting_numbers), kind),
            ).fetchall()
        return {row[0] for row in rows}


def _json_list(values: Iterable[str]) -> str:
    return json.dumps(list(values))


def _action(row: tuple[Any, ...]) -> Action:
    return Action(
        id=row[0],
        account=row[1],
        posting_number=row[2],
        kind=row[3],
        dry_run=bool(row[4]),
        reason=row[5],
        claimed_at=from_text(row[6]),
        outcome=row[7],
        outcome_reason=row[8],
        unknown_at=optional_from_text(row[9]),
        finished_at=optional_from_text(row[10]),
    )
