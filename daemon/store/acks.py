"""Store verbs about acknowledgements: someone took a posting in hand (`ack`, the board); and
about escalations: nobody did, and the next level was told.

An acknowledgement is kept with the deadline (shipment_date) the posting had when it was made,
and counts only while the posting still has that deadline: Ozon moving the deadline clears it
without any write. Every acknowledgement stays a row of its own, so `history` shows each one
(event `acknowledged`); the newest one for the current deadline is the one in force, and
`postings` / `posting` show it as `acknowledged_by` / `acknowledged_at`.

An acknowledgement is a small write, safe beside a running writer (mode "annotate"). An
escalation step is journalled by the alerts path (`record_escalations`) in the transaction of
the alert it sends, so `history` shows it (event `escalated`, the level in its reason) exactly
when the alert exists. Imports only the standard library, `daemon.redact` and the store's
modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from daemon.redact import redact_text
from daemon.store.base import StoreBase
from daemon.store.records import to_text

__all__ = ["CURRENT_ACK", "AckVerbs"]

CURRENT_ACK = """
    SELECT max(id) FROM acknowledgements AS a WHERE a.account = p.account
    AND a.posting_number = p.posting_number AND a.shipment_date = p.shipment_date
"""
"""The id of the acknowledgement in force for the cached posting `p` (NULL: none), as a
correlated subquery for the posting reads (index `acknowledgements_posting` answers it)."""

_ACKNOWLEDGED = f"""
    SELECT p.posting_number FROM postings AS p
    WHERE p.account = ? AND p.watched = 1 AND ({CURRENT_ACK}) IS NOT NULL
"""  # noqa: S608 - constant text


class AckVerbs(StoreBase):
    """Acknowledge a posting; which postings are acknowledged; journal escalations (mixed
    into Store)."""

    def acknowledge(
        self,
        account: str,
        posting_number: str,
        shipment_date: datetime,
        by: str,
        now: datetime,
    ) -> None:
        """Record that `by` took `posting_number` of `account` in hand at `now`, for the
        deadline `shipment_date` (give the posting's current one: an acknowledgement for
        another deadline is not in force). Acknowledging again adds a newer one."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO acknowledgements (account, posting_number, shipment_date, by_name, "
                "at) VALUES (?, ?, ?, ?, ?)",
                (account, posting_number, to_text(shipment_date), by, to_text(now)),
            )

    def acknowledged_numbers(self, account: str) -> set[str]:
        """Numbers of `account`'s watched postings acknowledged for their current deadline
        (cheap: no decoding)."""
        with self._read() as conn:
            rows = conn.execute(_ACKNOWLEDGED, (account,))
            return {row[0] for row in rows}

    def record_escalations(
        self,
        account: str,
        steps: Iterable[tuple[str, datetime, int, str]],
        now: datetime,
    ) -> None:
        """Journal escalation steps of `account` at `now`: (posting number, the deadline it was
        escalated for, level, reason) each; `history` shows each as `escalated`."""
        at = to_text(now)
        rows = [
            (account, number, to_text(deadline), level, redact_text(reason), at)
            for number, deadline, level, reason in steps
        ]
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO escalations (account, posting_number, shipment_date, level, reason, "
                "at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
