"""The one alert path (daemon.alerts.batch) on a real store: decisions become ledger keys and
outbox rows in the caller's transaction, staged rows become one message per account and event
when released, and nothing is written when the transaction fails."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.alerts import Event
from daemon.alerts.batch import PAYLOAD_POSTINGS, batch, no_routes, release
from daemon.models import LedgerKey, Posting
from daemon.store import Store

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def posting(number: str, hours_left: float) -> Posting:
    return Posting(
        posting_number=number, status="awaiting_packaging", shipment_date=NOW + hours_left * HOUR
    )


def key(number: str, event: Event = Event.OVERDUE) -> LedgerKey:
    return LedgerKey(number, event, "#0")


def routes(_account: str, event: str) -> list[str]:
    return ["r-urgent"] if event == "overdue" else []


def staged(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        count: int = conn.execute("SELECT count(*) FROM alerts WHERE staged = 1").fetchone()[0]
    return count


def test_staged_batches_are_released_as_one_row_per_account_and_event(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    many = PAYLOAD_POSTINGS + 30
    with Store.open(db, mode="writer") as store:
        for start in (0, many // 2):  # two batches of one cycle
            with batch(store, "shop-1", NOW) as alerts:
                for index in range(start, start + many // 2):
                    number = f"1-{index:03d}"
                    alerts.add(Event.OVERDUE, key(number), posting(number, -index), "late")
        with batch(store, "shop-1", NOW) as alerts:
            alerts.add(Event.REMINDER, key("2-1", Event.REMINDER), posting("2-1", 3), "3h left")
        assert alerts.counts == {"reminder": 1}
        assert staged(db) == 3 and store.deliveries_due(NOW) == []  # nothing goes out yet
        assert release(store, NOW, routes, "shop-1") == 2
        assert staged(db) == 0
        (due,) = store.deliveries_due(NOW)  # overdue has a route; the reminder only logs
        overdue = due.alert
        assert overdue.event == "overdue" and overdue.urgent
        assert len(overdue.posting_numbers) == overdue.payload["total"] == many
        described = overdue.payload["postings"]
        assert len(described) == PAYLOAD_POSTINGS
        assert described[0]["posting_number"] == f"1-{many - 1:03d}"  # most overdue first
        assert overdue.reason == f"{many} postings"
        (reminder,) = [e for e in store.history() if e.event == "reminder"]
        assert reminder.posting_numbers == ("2-1",) and reminder.reason == "3h left"


def test_only_new_ledger_keys_alert_and_marks_never_do(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        with batch(store, "shop-1", NOW, routes=no_routes) as alerts:
            alerts.add(Event.OVERDUE, key("1-1"), posting("1-1", -1), "late")
            alerts.mark([key("1-2")])
        with batch(store, "shop-1", NOW, routes=no_routes) as again:
            again.add(Event.OVERDUE, key("1-1"), posting("1-1", -1), "late")
            again.add(Event.OVERDUE, key("1-2"), posting("1-2", -1), "late")
            again.note(Event.DIGEST, "summary", key=LedgerKey("", Event.DIGEST, "2026-11-26"))
        assert alerts.counts == {"overdue": 1}
        assert again.counts == {"digest": 1}
        assert [e.event for e in store.history()] == ["digest", "overdue"]


def test_a_failing_block_writes_neither_its_change_nor_its_alerts(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store.open(db, mode="writer") as store:
        with pytest.raises(RuntimeError, match="killed"), batch(store, "shop-1", NOW) as alerts:
            store.hold("1-1", None, NOW)  # the change
            alerts.add(Event.OVERDUE, key("1-1"), posting("1-1", -1), "late")
            raise RuntimeError("killed")
        assert store.holds(NOW) == {}
        assert store.fired_keys("shop-1") == set()
        assert staged(db) == 0
