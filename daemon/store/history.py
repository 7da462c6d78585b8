"""Store verbs for the `history` journal (alerts sent, each step of an action,
acknowledgements, escalations) and for pruning what is older than `keep_history`.

Imports only the standard library and the store's modules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from daemon.store.base import StoreBase
from daemon.store.records import HistoryEntry, PruneResult, from_text, numbers_from_text, to_text

__all__ = ["HistoryVerbs"]

# One element per alert sent and per step of an action (see `history`); `rank` orders elements
# with the same time so that a resolution comes before (is newer than) its "outcome unknown".
_HISTORY = """
    SELECT sent_at AS at, 0 AS rank, id, account, event AS what, posting_numbers, dry_run, reason
    FROM alerts WHERE sent_at IS NOT NULL
    UNION ALL
    SELECT unknown_at, 1, id, account, kind || ':unknown', posting_number, dry_run,
           'outcome unknown'
    FROM actions WHERE unknown_at IS NOT NULL
    UNION ALL
    SELECT finished_at, 2, id, account, kind || ':' || outcome, posting_number, dry_run,
           CASE WHEN outcome IN ('failed', 'skipped') AND outcome_reason != ''
                THEN outcome_reason ELSE reason END
    FROM actions WHERE outcome IN ('done', 'failed', 'skipped')
    UNION ALL
    SELECT at, 3, id, account, 'acknowledged', posting_number, 0, 'by ' || by_name
    FROM acknowledgements
    UNION ALL
    SELECT at, 4, id, account, 'escalated', posting_number, 0, reason
    FROM escalations
    ORDER BY at DESC, rank DESC, id DESC
    LIMIT ?
"""
_ACTION_EVENTS = {
    "cancel:done": "cancelled",
    "cancel:failed": "cancel_failed",
    "cancel:unknown": "cancel_failed",
    "cancel:skipped": "cancel_skipped",
}


class HistoryVerbs(StoreBase):
    """The journal and pruning (see the module docstring)."""

    def history(self, limit: int = 50) -> list[HistoryEntry]:
        """The journal for `history`, newest first, at most `limit` elements.

        One element per alert message sent (at its first delivery or `record_sent`), and per
        cancellation: `cancelled` when done, `cancel_failed` when failed, `cancel_skipped` when
        decided against without sending (reason: why), and `cancel_failed` with reason
        "outcome unknown" when the outcome became unknown (followed by `cancelled` or
        `cancel_failed` once resolved). Claims without an outcome yet are not shown. Each
        acknowledgement is an `acknowledged` action (reason: "by NAME"), each escalation step an
        `escalated` action (reason: "level N: ...").
        """
        with self._read() as conn:
            rows = conn.execute(_HISTORY, (limit,)).fetchall()
        entries = []
        for at, rank, _, account, what, numbers, dry_run, reason in rows:
            if rank == 0:
                event, posting_numbers = what, numbers_from_text(numbers)
            else:
                event, posting_numbers = (
                    # a planned (dry-run) cancellation reads as what it is: would_cancel
                    "would_cancel"
                    if dry_run and what == "cancel:done"
                    else _ACTION_EVENTS.get(what, what.replace(":", "_")),
                    (numbers,),
                )
            kind: Literal["alert", "action"] = "alert" if rank == 0 else "action"
            entries.append(
                HistoryEntry(
                    from_text(at), account, event, posting_numbers, bool(dry_run), reason, kind
                )
            )
        return entries

    def prune(self, older_than: datetime) -> PruneResult:
        """Delete records older than `older_than` (now minus keep_history); returns counts.

        Pruned: ledger keys (except those of still-watched postings, whose steps must not fire
        again), finished actions, alerts with no pending delivery, posting history rows,
        departed postings, expired holds, acknowledgements and escalations of postings no
        longer watched.
        Never: watched postings, open or unknown actions, alerts still waiting for a route or
        staged, sync state.
        """
        cutoff = to_text(older_than)
        statements = {
            "ledger": "DELETE FROM alert_ledger WHERE at < ? AND NOT EXISTS (SELECT 1 FROM "
            "postings AS p WHERE p.account = alert_ledger.account AND p.posting_number = "
            "alert_ledger.posting_number AND p.watched = 1)",
            "actions": "DELETE FROM actions WHERE finished_at < ? "
            "AND outcome IN ('done', 'failed', 'skipped')",
            "alerts": "DELETE FROM alerts WHERE created_at < ? AND staged = 0 AND NOT EXISTS "
            "(SELECT 1 FROM deliveries AS d WHERE d.alert_id = alerts.id AND d.state = 'pending')",
            "posting_history": "DELETE FROM posting_history WHERE at < ?",
            "postings": "DELETE FROM postings WHERE watched = 0 AND departed_at < ?",
            "holds": "DELETE FROM holds WHERE until IS NOT NULL AND until < ?",
            "acknowledgements": "DELETE FROM acknowledgements WHERE at < ? AND NOT EXISTS ("
            "SELECT 1 FROM postings AS p WHERE p.account = acknowledgements.account AND "
            "p.posting_number = acknowledgements.posting_number AND p.watched = 1)",
            "escalations": "DELETE FROM escalations WHERE at < ? AND NOT EXISTS ("
            "SELECT 1 FROM postings AS p WHERE p.account = escalations.account AND "
            "p.posting_number = escalations.posting_number AND p.watched = 1)",
        }
        with self._write() as conn:
            counts = {
                name: conn.execute(sql, (cutoff,)).rowcount for name, sql in statements.items()
            }
        return PruneResult(counts)
