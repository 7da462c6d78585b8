"""Store verbs for alerts on their way out (the `history` journal and pruning are in
`daemon.store.history`).

An alert is enqueued once, with one delivery row per notification route that wants it. A route
is named by a stable id the caller derives (e.g. a hash of its URL); the URL itself is never
stored, since it may hold tokens. Delivery rows are retried until delivered or dropped. An alert
counts as a sent message (for `history`) from its first successful delivery, or from
`record_sent` when it was only logged. Texts from outside (reasons, payloads, delivery errors)
are masked against every known secret (`daemon.redact`) before they are written.

Imports only the standard library, msgspec (the models' codec), `daemon.redact` and the
store's modules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from daemon.redact import redact_text, redact_value
from daemon.store.base import StoreBase
from daemon.store.records import (
    Alert,
    Delivery,
    damaged,
    from_text,
    json_from_text,
    numbers_from_text,
    optional_from_text,
    to_text,
)

__all__ = ["OutboxVerbs"]


def _raw_json(value: Any) -> Any:
    """A payload's raw JSON (a Posting keeps Ozon's tariff as `msgspec.Raw`) as plain data."""
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value)
    raise NotImplementedError(f"cannot store {type(value).__name__} in an alert payload")


def _builtins(payload: Mapping[str, Any]) -> Any:
    return msgspec.to_builtins(dict(payload), enc_hook=_raw_json)


_ALERT_COLUMNS = (
    "id, account, event, posting_numbers, urgent, dry_run, reason, payload, created_at, sent_at"
)
_DUE = """
    SELECT a.id, a.account, a.event, a.posting_numbers, a.urgent, a.dry_run, a.reason, a.payload,
           a.created_at, a.sent_at, d.route_id, d.attempts, d.next_try_at, d.last_error,
           d.sent_postings
    FROM deliveries AS d JOIN alerts AS a ON a.id = d.alert_id
    WHERE d.state = 'pending' AND d.next_try_at <= :now
      AND (:route IS NULL OR d.route_id = :route)
    ORDER BY a.urgent DESC, a.id, d.route_id
    LIMIT :limit
"""


class OutboxVerbs(StoreBase):
    """Outbox, history and pruning verbs (mixed into Store)."""

    def enqueue_alert(
        self,
        account: str,
        event: str,
        posting_numbers: Iterable[str],
        now: datetime,
        *,
        urgent: bool,
        payload: Mapping[str, Any],
        routes: Iterable[str] = (),
        reason: str = "",
        dry_run: bool = False,
        not_before: datetime | None = None,
        staged: bool = False,
    ) -> int:
        """Put an alert in the outbox at `now` for each route id in `routes`; returns its id.

        `payload` is whatever the renderer needs, JSON-encodable by msgspec (Structs and
        datetimes included; it comes back decoded as plain JSON). Deliveries are due from
        `not_before` (default `now`). With no routes the alert is only stored (call
        `record_sent` once it is logged). `reason` and `dry_run` show in `history`.
        A `staged` alert gets no deliveries (`routes` must be empty): it waits in
        `staged_alerts` until its writer releases it (and `discard_staged` removes it).
        """
        created = to_text(now)
        due = to_text(not_before or now)
        routes = list(routes)
        if staged and routes:
            raise ValueError("a staged alert gets its routes when it is released")
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO alerts (account, event, posting_numbers, urgent, dry_run, reason, "
                "payload, created_at, staged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account,
                    event,
                    json.dumps(list(posting_numbers)),
                    int(urgent),
                    int(dry_run),
                    redact_text(reason),
                    msgspec.json.encode(redact_value(_builtins(payload))).decode(),
                    created,
                    int(staged),
                ),
            )
            alert_id = cursor.lastrowid
            assert alert_id is not None  # noqa: S101 - an INSERT always sets it
            conn.executemany(
                "INSERT INTO deliveries (alert_id, route_id, state, next_try_at) "
                "VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                [(alert_id, route, due) for route in routes],
            )
        return alert_id

    def staged_alerts(self, account: str | None = None) -> list[Alert]:
        """The staged alerts (of one account when given), oldest first."""
        # Through the partial index alerts_staged, named: `(? IS NULL OR account = ?)`, or
        # ORDER BY id alone, made SQLite scan every alert ever kept, after every cycle.
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts INDEXED BY alerts_staged WHERE staged = 1"  # noqa: S608 - constant columns
        with self._read() as conn:
            if account is None:
                rows = conn.execute(sql + " ORDER BY id").fetchall()
            else:
                rows = conn.execute(sql + " AND account = ? ORDER BY id", (account,)).fetchall()
        return [_alert(row) for row in rows]

    def discard_staged(self, alert_ids: Iterable[int]) -> int:
        """Delete staged alerts by id (once released as others); returns how many."""
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM alerts WHERE staged = 1 AND id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(alert_ids)),),
            )
            return cursor.rowcount

    def deliveries_due(
        self, now: datetime, *, route_id: str | None = None, limit: int = -1
    ) -> list[Delivery]:
        """Pending deliveries due at `now` (of one route when given): urgent first, then oldest.

        `limit` caps the number returned (-1: all).
        """
        params = {"now": to_text(now), "route": route_id, "limit": limit}
        with self._read() as conn:
            rows = conn.execute(_DUE, params).fetchall()
        return [
            Delivery(
                alert=_alert(row[:10]),
                route_id=row[10],
                attempts=row[11],
                next_try_at=from_text(row[12]),
                last_error=row[13],
                sent_postings=frozenset(numbers_from_text(row[14])),
            )
            for row in rows
        ]

    def routes_due(self, now: datetime) -> list[str]:
        """Route ids that have at least one delivery due at `now`, sorted."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT route_id FROM deliveries WHERE state = 'pending' "
                "AND next_try_at <= ? ORDER BY route_id",
                (to_text(now),),
            ).fetchall()
        return [row[0] for row in rows]

    def pending_deliveries(self) -> int:
        """How many deliveries are still pending (due or not), for metrics."""
        with self._read() as conn:
            row = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'pending'")
            return int(row.fetchone()[0])

    def alert(self, alert_id: int) -> Alert | None:
        """One alert of the outbox by id, or None."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608 - constant columns
                (alert_id,),
            ).fetchone()
        return None if row is None else _alert(row)

    def mark_delivered(self, alert_id: int, route_id: str, now: datetime) -> None:
        """Record that alert `alert_id` reached route `route_id` at `now` (it is now sent).

        Raises ValueError when there is no such delivery.
        """
        at = to_text(now)
        with self._write() as conn:
            self._set_delivery(
                conn,
                "state = 'delivered', done_at = ?, attempts = attempts + 1",
                (at,),
                alert_id,
                route_id,
            )
            conn.execute(
                "UPDATE alerts SET sent_at = coalesce(sent_at, ?) WHERE id = ?", (at, alert_id)
            )

    def mark_parts_sent(
        self, alert_ids: Iterable[int], route_id: str, numbers: Iterable[str]
    ) -> None:
        """Record that the pending deliveries of `alert_ids` to route `route_id` carried the
        postings `numbers` in an accepted part (of a message split in parts), in one write; a
        retry then leaves them out. Unknown or finished deliveries are left alone."""
        with self._write() as conn:
            conn.execute(
                "UPDATE deliveries SET sent_postings = (SELECT json_group_array(value) FROM "
                "(SELECT value FROM json_each(deliveries.sent_postings) UNION "
                "SELECT value FROM json_each(:numbers))) "
                "WHERE route_id = :route AND state = 'pending' "
                "AND alert_id IN (SELECT value FROM json_each(:ids))",
                {
                    "numbers": json.dumps(sorted(set(numbers))),
                    "route": route_id,
                    "ids": json.dumps(list(alert_ids)),
                },
            )

    def mark_failed(self, alert_id: int, route_id: str, error: str, next_try_at: datetime) -> None:
        """Record a failed attempt (`error`: one line, no secrets); retry from `next_try_at`."""
        with self._write() as conn:
            self._set_delivery(
                conn,
                "attempts = attempts + 1, last_error = ?, next_try_at = ?",
                (redact_text(error), to_text(next_try_at)),
                alert_id,
                route_id,
            )

    def postpone(self, alert_id: int, route_id: str, until: datetime) -> None:
        """Hold a pending delivery back until `until` (quiet hours); not counted as an attempt."""
        with self._write() as conn:
            self._set_delivery(conn, "next_try_at = ?", (to_text(until),), alert_id, route_id)

    def drop(self, alert_id: int, route_id: str, reason: str, now: datetime) -> None:
        """Give a delivery up for good (e.g. a quiet-hours reminder now covered by `overdue`)."""
        with self._write() as conn:
            self._set_delivery(
                conn,
                "state = 'dropped', last_error = ?, done_at = ?",
                (redact_text(reason), to_text(now)),
                alert_id,
                route_id,
            )

    def drop_routes_except(self, route_ids: Iterable[str], reason: str, now: datetime) -> int:
        """Drop pending deliveries to routes not in `route_ids` (removed from the config).

        Returns how many deliveries were dropped.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE deliveries SET state = 'dropped', last_error = ?, done_at = ? "
                "WHERE state = 'pending' AND route_id NOT IN (SELECT value FROM json_each(?))",
                (redact_text(reason), to_text(now), json.dumps(list(route_ids))),
            )
            return cursor.rowcount

    def record_sent(self, alert_id: int, now: datetime) -> None:
        """Count alert `alert_id` as a message sent at `now` (e.g. when alerts only go to the log).

        Keeps the first time when called again. Raises ValueError for an unknown id.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE alerts SET sent_at = coalesce(sent_at, ?) WHERE id = ?",
                (to_text(now), alert_id),
            )
            if cursor.rowcount != 1:
                raise ValueError(f"no alert with id {alert_id}")

    def _set_delivery(
        self, conn: Any, assignments: str, params: tuple[Any, ...], alert_id: int, route_id: str
    ) -> None:
        cursor = conn.execute(
            f"UPDATE deliveries SET {assignments} WHERE alert_id = ? AND route_id = ?",  # noqa: S608 - assignments are constants of this module
            (*params, alert_id, route_id),
        )
        if cursor.rowcount != 1:
            raise ValueError(f"no delivery of alert {alert_id} to route {route_id!r}")


def _alert(row: tuple[Any, ...]) -> Alert:
    return Alert(
        id=row[0],
        account=row[1],
        event=row[2],
        posting_numbers=numbers_from_text(row[3]),
        urgent=bool(row[4]),
        dry_run=bool(row[5]),
        reason=row[6],
        payload=_payload(row[7]),
        created_at=from_text(row[8]),
        sent_at=optional_from_text(row[9]),
    )


def _payload(text: str) -> dict[str, Any]:
    payload = json_from_text(text)
    if not isinstance(payload, dict):
        raise damaged("an alert payload that is no JSON object:", text)
    return payload
