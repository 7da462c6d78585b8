"""Store verbs that only report on the cached postings: one posting's change history, the
deadline moves of a window, the daily digest's counts and the postings due in its days ahead.

Imports only the standard library, msgspec (the models' codec), daemon.models and the store's
modules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from daemon.models import Posting
from daemon.store.base import StoreBase
from daemon.store.records import DigestCounts, from_text, to_text

__all__ = ["ReportVerbs"]

_DECODER = msgspec.json.Decoder(Posting)


class ReportVerbs(StoreBase):
    """Read-only reports over `postings` and `posting_history`."""

    def posting_history(
        self, posting_number: str, *, account: str | None = None
    ) -> list[tuple[datetime, str, str, str]]:
        """Status and deadline changes of one posting, oldest first: (at, field, old, new)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT at, field, old, new FROM posting_history WHERE posting_number = ? "
                "AND (? IS NULL OR account = ?) ORDER BY at, id",
                (posting_number, account, account),
            ).fetchall()
        return [(from_text(at), field, old, new) for at, field, old, new in rows]

    def deadline_moves(
        self, account: str, after: datetime, before: datetime
    ) -> dict[str, tuple[datetime, datetime]]:
        """Deadline moves of `account`'s postings recorded after `after` and before `before`:
        posting number -> (the deadline before the first move, the one after the last).

        A cycle that died after caching a moved posting but before recording its alerts left
        such a row behind a last successful sync: the next cycle reads it to still report it.
        """
        with self._read() as conn:
            rows = conn.execute(
                "SELECT posting_number, old, new FROM posting_history WHERE account = ? "
                "AND field = 'shipment_date' AND at > ? AND at < ? ORDER BY at, id",
                (account, to_text(after), to_text(before)),
            ).fetchall()
        moves: dict[str, tuple[datetime, datetime]] = {}
        for number, old, new in rows:
            first = moves[number][0] if number in moves else from_text(old)
            moves[number] = (first, from_text(new))
        return moves

    def digest_counts(self, account: str, now: datetime) -> DigestCounts:
        """Counts for the daily digest of `account` at `now`, from the cache alone."""
        n = to_text(now)
        day_ago = to_text(now - timedelta(hours=24))
        day_ahead = to_text(now + timedelta(hours=24))
        fortnight_ago = to_text(now - timedelta(days=14))
        with self._read() as conn:
            watched, due, overdue = conn.execute(
                "SELECT count(*), coalesce(sum(shipment_date >= ? AND shipment_date < ?), 0), "
                "coalesce(sum(shipment_date < ?), 0) FROM postings "
                "WHERE account = ? AND watched = 1",
                (n, day_ahead, n, account),
            ).fetchone()
            cancelled, late_day, shipped, late = conn.execute(
                "SELECT coalesce(sum(departure = 'cancelled' AND departed_at >= ?), 0), "
                "coalesce(sum(departure = 'shipped' AND shipped_late AND departed_at >= ?), 0), "
                "coalesce(sum(departure = 'shipped'), 0), "
                "coalesce(sum(departure = 'shipped' AND shipped_late), 0) "
                "FROM postings WHERE account = ? AND departed_at >= ? AND departed_at <= ?",
                (day_ago, day_ago, account, fortnight_ago, n),
            ).fetchone()
        return DigestCounts(
            watched=watched,
            due_within_24h=due,
            overdue=overdue,
            cancelled_last_24h=cancelled,
            shipped_late_last_24h=late_day,
            shipped_last_14d=shipped,
            shipped_late_last_14d=late,
        )
