"""Store verbs about Ozon's numbers for the ship-or-cancel advice and the digest: the last
answer of each account's rating methods, and per-warehouse figures from the local history.

- `record_ratings(account, summary, index, now)`: keep what was read (an answer, or the 403 of
  a key without the role); `account_ratings(account) -> AccountRatings` gives it back.
- `unnoted_denials(account)` / `mark_denials_noted(account)`: a 403 is said in the digest once
  per denial (a method that answers again, then is refused again, is a new denial).
- `warehouse_figures(account, since, now) -> list[WarehouseFigures]`: per warehouse, the
  postings that left the watch in that window: shipped, shipped late, cancelled by ozon-sync
  (a cancel request of ours may have reached Ozon), cancelled by anyone else.

Imports only the standard library, msgspec (the models' codec), `daemon.redact` and the store's
modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from daemon.models import AccessDenied, AccountRatings, ErrorIndex, RatingSummary
from daemon.redact import redact_value
from daemon.store.base import StoreBase
from daemon.store.records import from_text, to_text

__all__ = ["RatingVerbs", "WarehouseFigures"]

_UPSERT = """
    INSERT INTO ratings (account, method, read_at, value, denied, denial_noted)
    VALUES (:account, :method, :now, :value, :denied, 0)
    ON CONFLICT (account, method) DO UPDATE SET read_at = excluded.read_at,
        value = excluded.value, denied = excluded.denied,
        denial_noted = CASE WHEN excluded.denied IS NOT NULL AND ratings.denied IS NOT NULL
                            THEN ratings.denial_noted ELSE 0 END
"""
# A cancellation is ozon-sync's when a real cancel request of ours for the posting may have
# reached Ozon (done, or outcome unknown), as `cycle` tells cancelled_elsewhere apart.
_FIGURES = """
    SELECT warehouse_id, max(name), sum(departure = 'shipped'),
        sum(departure = 'shipped' AND coalesce(shipped_late, 0)),
        sum(departure = 'cancelled' AND ours), sum(departure = 'cancelled' AND NOT ours)
    FROM (
        SELECT json_extract(p.data, '$.warehouse_id') AS warehouse_id,
            coalesce(json_extract(p.data, '$.warehouse_name'), '') AS name,
            p.departure, p.shipped_late,
            EXISTS (SELECT 1 FROM actions a WHERE a.posting_number = p.posting_number
                    AND a.kind = 'cancel' AND a.dry_run = 0
                    AND a.outcome IN ('done', 'unknown')) AS ours
        FROM postings p
        WHERE p.account = ? AND p.departed_at >= ? AND p.departed_at <= ?
            AND p.departure IN ('shipped', 'cancelled')
    )
    GROUP BY warehouse_id ORDER BY max(name), warehouse_id
"""
_METHODS = {"summary": RatingSummary, "index": ErrorIndex}


@dataclass(frozen=True, slots=True)
class WarehouseFigures:
    """One warehouse's postings that left the watch in a window (the digest's 14 days)."""

    warehouse_id: int | None
    warehouse: str
    shipped: int = 0
    shipped_late: int = 0
    cancelled_by_us: int = 0
    cancelled_elsewhere: int = 0

    def as_json(self) -> dict[str, Any]:
        """The figures as the digest's payload carries them."""
        return {
            "warehouse_id": self.warehouse_id,
            "warehouse": self.warehouse,
            "shipped": self.shipped,
            "shipped_late": self.shipped_late,
            "cancelled_by_us": self.cancelled_by_us,
            "cancelled_elsewhere": self.cancelled_elsewhere,
        }


class RatingVerbs(StoreBase):
    """The ratings read from Ozon and the per-warehouse figures (mixed into Store)."""

    def record_ratings(
        self,
        account: str,
        summary: RatingSummary | AccessDenied | None,
        index: ErrorIndex | AccessDenied | None,
        now: datetime,
    ) -> None:
        """Keep the answers of `account`'s rating methods read at `now` (None: not read this
        time; the previous answer stays). An answer replaces an earlier denial and the
        other way round."""
        rows = []
        for method, value in (("summary", summary), ("index", index)):
            if value is None:
                continue
            denied = isinstance(value, AccessDenied)
            # Ozon's texts (a 403's message may echo the key) are masked like every outside text
            text = msgspec.json.encode(redact_value(msgspec.to_builtins(value))).decode()
            rows.append(
                {
                    "account": account,
                    "method": method,
                    "now": to_text(now),
                    "value": None if denied else text,
                    "denied": text if denied else None,
                }
            )
        if rows:
            with self._write() as conn:
                conn.executemany(_UPSERT, rows)

    def account_ratings(self, account: str) -> AccountRatings:
        """What was last read of `account`'s ratings (each None when never read, or when
        what was kept cannot be read any more)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT method, read_at, value, denied FROM ratings WHERE account = ?",
                (account,),
            ).fetchall()
        found: dict[str, Any] = {}
        read_at: datetime | None = None
        for method, at, value, denied in rows:
            try:
                if denied is not None:
                    found[method] = msgspec.json.decode(denied, type=AccessDenied)
                elif value is not None and method in _METHODS:
                    found[method] = msgspec.json.decode(value, type=_METHODS[method])
            except msgspec.DecodeError:
                continue  # written by another version in another shape: read it again
            moment = from_text(at)
            read_at = moment if read_at is None or moment > read_at else read_at
        return AccountRatings(
            summary=found.get("summary"), index=found.get("index"), read_at=read_at
        )

    def unnoted_denials(self, account: str) -> list[AccessDenied]:
        """The 403 answers of `account`'s rating methods the digest has not said yet."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT denied FROM ratings WHERE account = ? AND denied IS NOT NULL "
                "AND denial_noted = 0 ORDER BY method DESC",
                (account,),
            ).fetchall()
        return [msgspec.json.decode(denied, type=AccessDenied) for (denied,) in rows]

    def mark_denials_noted(self, account: str) -> None:
        """Record that the digest said every current denial of `account` (once is enough)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE ratings SET denial_noted = 1 WHERE account = ? AND denied IS NOT NULL",
                (account,),
            )

    def warehouse_figures(
        self, account: str, since: datetime, now: datetime
    ) -> list[WarehouseFigures]:
        """Per warehouse of `account` (by name), the postings that left the watch between
        `since` and `now`: shipped, shipped late, cancelled by ozon-sync, cancelled elsewhere."""
        with self._read() as conn:
            rows = conn.execute(_FIGURES, (account, to_text(since), to_text(now))).fetchall()
        return [
            WarehouseFigures(
                warehouse_id=warehouse_id if isinstance(warehouse_id, int) else None,
                warehouse=str(name or ""),
                shipped=shipped or 0,
                shipped_late=late or 0,
                cancelled_by_us=ours or 0,
                cancelled_elsewhere=others or 0,
            )
            for warehouse_id, name, shipped, late, ours, others in rows
        ]
