"""The outbox (alerts per route), the `history` journal and pruning.

Every test uses a real SQLite file in tmp_path.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.models import Posting
from daemon.store import Store

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened


def enqueue(store: Store, event: str = "reminder", *, at: datetime = NOW, **kw: object) -> int:
    options: dict[str, object] = {"urgent": False, "payload": {"n": 1}, "routes": ["r-tg"]}
    options.update(kw)
    return store.enqueue_alert("shop-1", event, ["1-1", "1-2"], at, **options)  # type: ignore[arg-type]


# -- outbox --------------------------------------------------------------------------------------


def test_an_enqueued_alert_is_due_on_each_of_its_routes(store: Store) -> None:
    posting = Posting(posting_number="1-1", status="awaiting_packaging", shipment_date=NOW)
    alert_id = enqueue(store, payload={"posting": posting, "left": 3600}, routes=["r-a", "r-b"])

    due = store.deliveries_due(NOW)
    assert [(d.alert.id, d.route_id, d.attempts) for d in due] == [
        (alert_id, "r-a", 0),
        (alert_id, "r-b", 0),
    ]
    alert = due[0].alert
    assert alert.posting_numbers == ("1-1", "1-2") and alert.event == "reminder"
    assert alert.payload["posting"]["shipment_date"] == "2026-05-01T09:00:00Z"
    assert alert.payload["left"] == 3600
    assert store.routes_due(NOW) == ["r-a", "r-b"]
    assert [d.route_id for d in store.deliveries_due(NOW, route_id="r-b")] == ["r-b"]


def test_urgent_alerts_come_first_and_not_before_holds_them_back(store: Store) -> None:
    first = enqueue(store)
    urgent = enqueue(store, "overdue", urgent=True)
    later = enqueue(store, not_before=NOW + timedelta(hours=8))
    assert [d.alert.id for d in store.deliveries_due(NOW)] == [urgent, first]
    assert [d.alert.id for d in store.deliveries_due(NOW, limit=1)] == [urgent]
    assert later in [d.alert.id for d in store.deliveries_due(NOW + timedelta(hours=8))]


def test_a_failed_delivery_is_retried_later_and_a_delivered_one_never_again(store: Store) -> None:
    alert_id = enqueue(store, routes=["r-a", "r-b"])
    store.mark_failed(alert_id, "r-a", "HTTP 502 from the bot API", NOW + 5 * MINUTE)
    store.mark_delivered(alert_id, "r-b", NOW)

    assert store.deliveries_due(NOW) == []
    [retry] = store.deliveries_due(NOW + 5 * MINUTE)
    assert (retry.route_id, retry.attempts, retry.last_error) == (
        "r-a",
        1,
        "HTTP 502 from the bot API",
    )
    assert store.alert(alert_id).sent_at == NOW  # type: ignore[union-attr]
    assert store.pending_deliveries() == 1


def test_postponed_and_dropped_deliveries(store: Store) -> None:
    alert_id = enqueue(store, routes=["r-a", "r-b"])
    store.postpone(alert_id, "r-a", NOW + timedelta(hours=9))
    store.drop(alert_id, "r-b", "posting overdue when quiet hours ended", NOW)
    assert store.deliveries_due(NOW + timedelta(hours=8)) == []
    [postponed] = store.deliveries_due(NOW + timedelta(hours=9))
    assert postponed.attempts == 0
    with pytest.raises(ValueError, match="no delivery"):
        store.mark_delivered(alert_id, "r-unknown", NOW)


def test_deliveries_to_routes_removed_from_the_config_are_dropped(store: Store) -> None:
    enqueue(store, routes=["r-kept", "r-gone"])
    assert store.drop_routes_except(["r-kept"], "route removed from the config", NOW) == 1
    assert store.routes_due(NOW) == ["r-kept"]


def test_the_route_id_is_stored_but_never_a_url(db_path: Path, store: Store) -> None:
    enqueue(store, routes=["sha256:5f1e"])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT route_id FROM deliveries").fetchall() == [("sha256:5f1e",)]


# -- history -------------------------------------------------------------------------------------

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_history_lists_sent_alerts_and_cancellations_newest_first(store: Store) -> None:
    logged = enqueue(store, routes=[], at=NOW)
    store.record_sent(logged, NOW)
    enqueue(store, "overdue", at=NOW + MINUTE)  # never delivered: not in history
    delivered = enqueue(store, "deadline_changed", at=NOW + 2 * MINUTE)
    store.mark_delivered(delivered, "r-tg", NOW + 3 * MINUTE)

    unknown = store.claim_action(
        "shop-1", "1-5", "cancel", NOW + 4 * MINUTE, dry_run=False, reason="overdue for 48h"
    )
    assert unknown is not None
    store.finish_action(unknown, "unknown", NOW + 5 * MINUTE, reason="timeout")
    store.finish_action(unknown, "done", NOW + 7 * MINUTE, reason="re-read: cancelled")
    failed = store.claim_action(
        "shop-1", "1-6", "cancel", NOW + 6 * MINUTE, dry_run=True, reason="overdue for 50h"
    )
    assert failed is not None
    store.finish_action(failed, "failed", NOW + 6 * MINUTE, reason="HAS_INCORRECT_CANCEL_REASON")
    store.claim_action("shop-1", "1-7", "cancel", NOW, dry_run=False, reason="in flight")

    history = [entry.as_json() for entry in store.history()]

    assert history == [
        {
            "at": "2026-05-01T09:07:00Z",
            "account": "shop-1",
            "event": "cancelled",
            "posting_numbers": ["1-5"],
            "dry_run": False,
            "reason": "overdue for 48h",
            "kind": "action",
        },
        {
            "at": "2026-05-01T09:06:00Z",
            "account": "shop-1",
            "event": "cancel_failed",
            "posting_numbers": ["1-6"],
            "dry_run": True,
            "reason": "HAS_INCORRECT_CANCEL_REASON",
            "kind": "action",
        },
        {
            "at": "2026-05-01T09:05:00Z",
            "account": "shop-1",
            "event": "cancel_failed",
            "posting_numbers": ["1-5"],
            "dry_run": False,
            "reason": "outcome unknown",
            "kind": "action",
        },
        {
            "at": "2026-05-01T09:03:00Z",
            "account": "shop-1",
            "event": "deadline_changed",
            "posting_numbers": ["1-1", "1-2"],
            "dry_run": False,
            "reason": "",
            "kind": "alert",
        },
        {
            "at": "2026-05-01T09:00:00Z",
            "account": "shop-1",
            "event": "reminder",
            "posting_numbers": ["1-1", "1-2"],
            "dry_run": False,
            "reason": "",
            "kind": "alert",
        },
    ]
    assert all(RFC3339_Z.match(entry["at"]) for entry in history)
    assert [e.event for e in store.history(limit=2)] == ["cancelled", "cancel_failed"]


def test_a_resolution_at_the_same_instant_still_follows_its_outcome_unknown(store: Store) -> None:
    action_id = store.claim_action("shop-1", "1-5", "cancel", NOW, dry_run=False, reason="late")
    assert action_id is not None
    store.finish_action(action_id, "unknown", NOW)
    store.finish_action(action_id, "done", NOW)
    assert [(e.event, e.reason) for e in store.history()] == [
        ("cancelled", "late"),
        ("cancel_failed", "outcome unknown"),
    ]


def test_history_shows_a_skipped_cancel_as_cancel_skipped_with_its_reason(store: Store) -> None:
    claim = store.claim_action("shop-1", "1-5", "cancel", NOW, dry_run=False, reason="late 50h")
    assert claim is not None
    store.finish_action(claim, "skipped", NOW + MINUTE, reason="status changed before sending")
    store.record_skipped("shop-1", "1-6", "cancel", NOW + 2 * MINUTE, reason="held by the seller")
    store.record_skipped("shop-1", "1-7", "cancel", NOW + 3 * MINUTE, reason="")

    history = [entry.as_json() for entry in store.history()]

    assert history == [
        {
            "at": "2026-05-01T09:03:00Z",
            "account": "shop-1",
            "event": "cancel_skipped",
            "posting_numbers": ["1-7"],
            "dry_run": False,
            "reason": "",
            "kind": "action",
        },
        {
            "at": "2026-05-01T09:02:00Z",
            "account": "shop-1",
            "event": "cancel_skipped",
            "posting_numbers": ["1-6"],
            "dry_run": False,
            "reason": "held by the seller",
            "kind": "action",
        },
        {
            "at": "2026-05-01T09:01:00Z",
            "account": "shop-1",
            "event": "cancel_skipped",
            "posting_numbers": ["1-5"],
            "dry_run": False,
            "reason": "status changed before sending",
            "kind": "action",
        },
    ]


def test_old_skipped_entries_are_pruned(store: Store) -> None:
    old = NOW - timedelta(days=100)
    store.record_skipped("shop-1", "1-6", "cancel", old, reason="held")
    store.record_skipped("shop-1", "1-7", "cancel", NOW, reason="held")
    assert store.prune(NOW - timedelta(days=90)).counts["actions"] == 1
    assert [e.posting_numbers for e in store.history()] == [("1-7",)]


def test_history_is_readable_beside_the_writer(db_path: Path, store: Store) -> None:
    store.record_sent(enqueue(store, reason="4h left", dry_run=True), NOW)
    with Store.open(db_path, mode="reader") as reader:
        [entry] = reader.history()
    assert (entry.event, entry.reason, entry.dry_run) == ("reminder", "4h left", True)


# -- pruning -------------------------------------------------------------------------------------


def posting(number: str) -> Posting:
    return Posting(posting_number=number, status="awaiting_packaging", shipment_date=NOW)


def test_prune_deletes_old_records_but_keeps_what_is_still_needed(store: Store) -> None:
    old = NOW - timedelta(days=100)
    cutoff = NOW - timedelta(days=90)
    store.upsert_postings("shop-1", [posting("w-1"), posting("gone-old")], old)
    store.upsert_postings("shop-1", [posting("gone-new")], NOW)
    store.mark_departed(
        "shop-1",
        [Posting(posting_number="gone-old", status="delivering", shipment_date=NOW)],
        old,
    )
    store.mark_departed(
        "shop-1", [Posting(posting_number="gone-new", status="cancelled", shipment_date=NOW)], NOW
    )
    store.record_alert_keys(
        "shop-1",
        [("w-1", "reminder", "24h"), ("gone-old", "reminder", "24h"), ("", "digest", "d")],
        old,
    )
    store.record_alert_keys("shop-1", [("gone-new", "reminder", "4h")], NOW)
    done = store.claim_action("shop-1", "a-1", "cancel", old, dry_run=False, reason="r")
    unknown = store.claim_action("shop-1", "a-2", "cancel", old, dry_run=False, reason="r")
    store.claim_action("shop-1", "a-3", "cancel", old, dry_run=False, reason="never finished")
    store.finish_action(done, "done", old)  # type: ignore[arg-type]
    store.finish_action(unknown, "unknown", old)  # type: ignore[arg-type]
    sent = enqueue(store, at=old)
    store.mark_delivered(sent, "r-tg", old)
    waiting = enqueue(store, at=old)
    store.hold("w-1", old + timedelta(days=1), old)
    store.hold("gone-new", None, old)
    store.acknowledge("shop-1", "w-1", NOW, "Li", old)  # still watched: stays
    store.acknowledge("shop-1", "gone-old", NOW, "Li", old)  # departed: goes
    store.acknowledge("shop-1", "gone-new", NOW, "Li", NOW)  # recent: stays
    store.record_escalations("shop-1", [("w-1", NOW, 1, "level 1: still watched")], old)
    store.record_escalations("shop-1", [("gone-old", NOW, 1, "level 1: departed")], old)
    store.record_escalations("shop-1", [("gone-new", NOW, 2, "level 2: recent")], NOW)

    result = store.prune(cutoff)

    assert result.counts == {
        "ledger": 2,
        "actions": 1,
        "alerts": 1,
        "posting_history": 1,
        "postings": 1,
        "holds": 1,
        "acknowledgements": 1,
        "escalations": 1,
    }
    escalated = {e.posting_numbers for e in store.history(100) if e.event == "escalated"}
    assert escalated == {("w-1",), ("gone-new",)}
    assert store.fired_keys("shop-1") == {
        ("w-1", "reminder", "24h"),
        ("gone-new", "reminder", "4h"),
    }
    assert {a.posting_number for a in store.open_actions()} == {"a-2", "a-3"}
    assert store.alert(sent) is None and store.alert(waiting) is not None
    assert [d.alert.id for d in store.deliveries_due(NOW)] == [waiting]
    cached = {c.posting_number for c in store.postings(NOW, include_departed=True)}
    assert cached == {"w-1", "gone-new"}
    assert store.holds(NOW) == {"gone-new": None}
    everything = store.postings(NOW, include_departed=True)
    acked = {c.posting_number: c.acknowledged_by for c in everything}
    assert acked == {"w-1": "Li", "gone-new": "Li"}
    assert store.prune(cutoff).total == 0
