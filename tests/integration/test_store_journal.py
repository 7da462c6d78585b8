"""At-most-once bookkeeping: the alert ledger, action claims, per-account sync state.

Every test uses a real SQLite file in tmp_path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from daemon.models import LedgerKey
from daemon.store import Store
from daemon.store import schema_check as schema

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened


# -- alert ledger --------------------------------------------------------------------------------


def test_only_new_alert_keys_are_returned(store: Store) -> None:
    first = store.record_alert_keys(
        "shop-1",
        [("1-1", "reminder", "24h"), ("1-1", "reminder", "24h"), ("1-2", "overdue", "0")],
        NOW,
    )
    assert first == [LedgerKey("1-1", "reminder", "24h"), LedgerKey("1-2", "overdue", "0")]

    second = store.record_alert_keys(
        "shop-1", [LedgerKey("1-2", "overdue", "0"), LedgerKey("1-2", "overdue", "1")], NOW
    )
    assert second == [LedgerKey("1-2", "overdue", "1")]
    # The same key in another account is another alert.
    assert store.record_alert_keys("shop-2", [("1-1", "reminder", "24h")], NOW) == [
        LedgerKey("1-1", "reminder", "24h")
    ]


def test_the_ledger_survives_reopening_the_database(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.record_alert_keys("shop-1", [("1-1", "reminder", "4h"), ("", "digest", "05-01")], NOW)
    with Store.open(db_path) as store:
        assert store.record_alert_keys("shop-1", [("1-1", "reminder", "4h")], NOW) == []
        assert store.fired_keys("shop-1") == {
            LedgerKey("1-1", "reminder", "4h"),
            LedgerKey("", "digest", "05-01"),
        }
        assert store.fired_keys("shop-1", ["1-1"]) == {LedgerKey("1-1", "reminder", "4h")}
        assert store.fired_keys("shop-2") == set()


def test_concurrent_callers_never_both_get_the_same_new_key(store: Store) -> None:
    keys = [("1-1", "overdue", str(n)) for n in range(200)]
    won: list[list[LedgerKey]] = []

    def record() -> None:
        won.append(store.record_alert_keys("shop-1", keys, NOW))

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    all_won = [key for result in won for key in result]
    assert sorted(all_won) == sorted(LedgerKey(*k) for k in keys)


# -- action claims -------------------------------------------------------------------------------


def claim(store: Store, number: str = "1-1", *, dry_run: bool = False) -> int | None:
    return store.claim_action(
        "shop-1", number, "cancel", NOW, dry_run=dry_run, reason="overdue for 49h"
    )


def test_of_two_claims_for_one_posting_only_the_first_wins(store: Store) -> None:
    first = claim(store)
    assert first is not None
    assert claim(store) is None
    assert claim(store, "1-2") is not None  # another posting is another claim


def test_a_claim_finished_as_done_blocks_every_later_claim(store: Store) -> None:
    action_id = claim(store)
    assert action_id is not None
    store.finish_action(action_id, "done", NOW)
    assert claim(store) is None


def test_after_a_failed_claim_a_new_claim_is_allowed(store: Store) -> None:
    action_id = claim(store)
    assert action_id is not None
    store.finish_action(
        action_id, "failed", NOW, reason="Ozon said 400 HAS_INCORRECT_CANCEL_REASON"
    )
    second = claim(store)
    assert second is not None and second != action_id


def test_after_an_unknown_outcome_no_new_claim_ever(store: Store) -> None:
    action_id = store.claim_action(
        "shop-1", "1-1", "cancel", NOW, dry_run=False, reason="overdue", client_id="100500"
    )
    assert action_id is not None
    store.finish_action(action_id, "unknown", NOW, reason="timeout")
    assert claim(store) is None
    [open_action] = store.open_actions()
    assert (open_action.id, open_action.outcome, open_action.unknown_at) == (
        action_id,
        "unknown",
        NOW,
    )

    store.finish_action(action_id, "failed", NOW + timedelta(minutes=5), reason="not cancelled")
    assert store.open_actions() == []
    # Settled as not applied, but the request may have reached Ozon: never a second one, by
    # this account or by another account of the same Client-Id (a renamed entry).
    assert claim(store) is None
    renamed = store.claim_action(
        "renamed", "1-1", "cancel", NOW, dry_run=False, reason="overdue", client_id="100500"
    )
    assert renamed is None


def test_dry_run_claims_do_not_block_real_ones(store: Store) -> None:
    assert claim(store, dry_run=True) is not None
    assert claim(store, dry_run=True) is None
    assert claim(store, dry_run=False) is not None


def test_dry_run_plans_are_journaled_once_per_posting_as_done(store: Store) -> None:
    plans = [("1-2", "overdue for 50h"), ("1-1", "overdue for 49h"), ("1-2", "overdue for 51h")]
    assert store.record_planned("shop-1", "cancel", plans, NOW) == ["1-2", "1-1"]
    later = NOW + timedelta(minutes=10)
    assert store.record_planned("shop-1", "cancel", [("1-1", "x"), ("1-3", "y")], later) == ["1-3"]
    assert store.record_planned("shop-2", "cancel", [("1-1", "x")], NOW) == ["1-1"]
    assert store.record_planned("shop-1", "cancel", [], NOW) == []
    planned = store.latest_action("shop-1", "1-2", "cancel", dry_run=True)
    assert planned is not None
    assert (planned.outcome, planned.reason, planned.dry_run) == ("done", "overdue for 51h", True)
    assert planned.claimed_at == planned.finished_at == NOW
    # the same as a dry-run claim finished as done: no second dry-run claim, real ones allowed
    assert claim(store, "1-1", dry_run=True) is None
    assert claim(store, "1-1", dry_run=False) is not None
    assert store.open_actions("shop-1") != [] and all(not a.dry_run for a in store.open_actions())


def test_a_failed_dry_run_claim_does_not_block_a_plan(store: Store) -> None:
    action_id = claim(store, "1-1", dry_run=True)
    assert action_id is not None
    store.finish_action(action_id, "failed", NOW, reason="not sent: held")
    assert store.record_planned("shop-1", "cancel", [("1-1", "overdue")], NOW) == ["1-1"]


def test_a_final_action_cannot_be_finished_again(store: Store) -> None:
    action_id = claim(store)
    assert action_id is not None
    store.finish_action(action_id, "done", NOW)
    with pytest.raises(ValueError, match="already final"):
        store.finish_action(action_id, "failed", NOW)
    with pytest.raises(ValueError, match="no action"):
        store.finish_action(9999, "done", NOW)
    with pytest.raises(ValueError, match="outcome"):
        store.finish_action(action_id, "maybe", NOW)  # type: ignore[arg-type]


def test_claims_without_outcome_are_listed_as_open_oldest_first(store: Store) -> None:
    ids = [claim(store, f"1-{n}") for n in range(3)]
    store.finish_action(ids[1], "done", NOW)  # type: ignore[arg-type]
    assert [a.id for a in store.open_actions()] == [ids[0], ids[2]]
    assert store.open_actions("shop-2") == []
    latest = store.latest_action("shop-1", "1-0")
    assert latest is not None and latest.reason == "overdue for 49h" and latest.outcome is None
    assert store.latest_action("shop-1", "9-9") is None


def test_claims_racing_from_threads_let_exactly_one_through(store: Store) -> None:
    results: list[int | None] = []

    def race() -> None:
        results.append(claim(store))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in results) == 1


def test_a_claim_survives_reopening_so_a_restart_never_cancels_twice(db_path: Path) -> None:
    with Store.open(db_path) as store:
        assert claim(store) is not None
    with Store.open(db_path) as store:
        assert claim(store) is None
        assert [a.posting_number for a in store.open_actions()] == ["1-1"]


# -- sync state ----------------------------------------------------------------------------------


def test_sync_state_reports_the_start_and_the_end_of_a_failure_streak(store: Store) -> None:
    assert store.get_sync_state("shop-1").last_success_at is None
    assert store.record_sync_success("shop-1", NOW) is False

    t1, t2, t3 = (NOW + timedelta(minutes=5 * n) for n in (1, 2, 3))
    assert store.record_sync_failure("shop-1", "Ozon unreachable", t1) is True
    assert store.record_sync_failure("shop-1", "Ozon answered 503", t2) is False
    state = store.get_sync_state("shop-1")
    assert (state.consecutive_failures, state.failing_since, state.last_error) == (
        2,
        t1,
        "Ozon answered 503",
    )
    assert state.last_success_at == NOW

    assert store.record_sync_success("shop-1", t3) is True
    state = store.get_sync_state("shop-1")
    assert (state.consecutive_failures, state.failing_since, state.last_success_at) == (0, None, t3)
    assert store.record_sync_success("shop-1", t3) is False


def test_api_error_is_marked_alerted_once_per_failure_streak(store: Store) -> None:
    assert store.mark_api_error_alerted("shop-1") is False  # not failing
    store.record_sync_failure("shop-1", "boom", NOW)
    assert store.mark_api_error_alerted("shop-1") is True
    assert store.mark_api_error_alerted("shop-1") is False
    assert store.get_sync_state("shop-1").api_error_alerted
    store.record_sync_success("shop-1", NOW)
    assert not store.get_sync_state("shop-1").api_error_alerted
    store.record_sync_failure("shop-1", "boom again", NOW)
    assert store.mark_api_error_alerted("shop-1") is True


def test_sync_states_lists_every_account(store: Store) -> None:
    store.record_sync_success("shop-b", NOW)
    store.record_sync_failure("shop-a", "boom", NOW)
    assert [(s.account, s.consecutive_failures) for s in store.sync_states()] == [
        ("shop-a", 1),
        ("shop-b", 0),
    ]


# -- skipped actions (history: cancel_skipped) ---------------------------------------------------


def test_a_skipped_claim_is_final_and_frees_the_posting_for_a_new_claim(store: Store) -> None:
    first = store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="late")
    assert first is not None
    store.finish_action(first, "skipped", NOW, reason="not sent: status changed")
    assert store.open_actions() == []
    with pytest.raises(ValueError, match="already final"):
        store.finish_action(first, "done", NOW)
    second = store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="late")
    assert second is not None and second != first


def test_a_claim_of_unknown_outcome_cannot_be_skipped(store: Store) -> None:
    claim = store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="late")
    assert claim is not None
    store.finish_action(claim, "unknown", NOW, reason="timeout")
    with pytest.raises(ValueError, match="outcome unknown"):
        store.finish_action(claim, "skipped", NOW, reason="changed")
    assert [a.id for a in store.open_actions()] == [claim]


def test_record_skipped_journals_a_decision_without_a_claim(store: Store) -> None:
    done = store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="late")
    assert done is not None
    store.finish_action(done, "unknown", NOW, reason="timeout")
    skipped = store.record_skipped(
        "shop-1", "1-1", "cancel", NOW + timedelta(minutes=1), reason="held by the seller"
    )
    assert skipped > done
    # Not a claim: the open claim stays the one `latest_action` sees, and claims are still
    # blocked by it.
    latest = store.latest_action("shop-1", "1-1", "cancel")
    assert latest is not None and (latest.id, latest.outcome) == (done, "unknown")
    assert store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="x") is None
    assert [a.id for a in store.open_actions()] == [done]
    # Several skips of one posting are all journaled; none blocks a claim later (a refused
    # claim does not either; one whose outcome was ever unknown always does).
    store.finish_action(done, "failed", NOW + timedelta(minutes=2), reason="re-read: open")
    refused = store.claim_action("shop-1", "1-2", "cancel", NOW, dry_run=False, reason="late")
    assert refused is not None
    store.finish_action(refused, "failed", NOW, reason="Ozon answered 400")
    for number in ("1-1", "1-2"):
        store.record_skipped("shop-1", number, "cancel", NOW, reason="again")
    assert store.claim_action("shop-1", "1-2", "cancel", NOW, dry_run=False, reason="x")
    assert store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="x") is None


def test_the_migration_keeps_every_journal_row_and_the_claim_rule(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    old_schema = Database(conn, execute_plugins=False)
    schema.apply_migrations(old_schema, stop_before="0003_skipped_actions")
    at = "2026-05-01T09:00:00.000000Z"
    conn.executemany(
        "INSERT INTO actions (id, account, posting_number, kind, dry_run, reason, claimed_at, "
        "outcome, outcome_reason, unknown_at, finished_at) VALUES (?, 'shop-1', ?, 'cancel', 0, "
        "'late', ?, ?, ?, ?, ?)",
        [
            (3, "1-1", at, "done", "", None, at),
            (5, "1-2", at, "failed", "refused", None, at),
            (8, "1-3", at, "unknown", "timeout", at, None),
        ],
    )
    conn.execute("COMMIT")
    conn.close()
    with Store.open(path) as migrated:
        assert [(a.id, a.outcome) for a in migrated.open_actions()] == [(8, "unknown")]
        claim = migrated.claim_action
        assert claim("shop-1", "1-1", "cancel", NOW, dry_run=False, reason="") is None
        assert claim("shop-1", "1-3", "cancel", NOW, dry_run=False, reason="") is None
        assert claim("shop-1", "1-2", "cancel", NOW, dry_run=False, reason="") == 9
        events = [(e.event, e.reason) for e in migrated.history()]
        assert events == [  # one instant: newest id first, a resolution before its unknown
            ("cancel_failed", "refused"),
            ("cancelled", "late"),
            ("cancel_failed", "outcome unknown"),
        ]
        migrated.finish_action(9, "skipped", NOW, reason="changed")
        assert claim("shop-1", "1-2", "cancel", NOW, dry_run=False, reason="") == 10


def test_acted_among_names_the_postings_a_request_may_have_reached(store: Store) -> None:
    def claimed(number: str, account: str = "shop-1", *, dry_run: bool = False) -> int:
        claim = store.claim_action(
            account, number, "cancel", NOW, dry_run=dry_run, reason="late", client_id="100500"
        )
        assert claim is not None
        return claim

    claimed("1-open")
    store.finish_action(claimed("1-done"), "done", NOW)
    store.finish_action(claimed("1-unknown"), "unknown", NOW, reason="timeout")
    settled = claimed("1-settled", "old-name")  # a renamed entry of the same shop
    store.finish_action(settled, "unknown", NOW, reason="timeout")
    store.finish_action(settled, "failed", NOW, reason="not applied")
    store.finish_action(claimed("1-refused"), "failed", NOW, reason="Ozon answered 400")
    store.finish_action(claimed("1-429"), "skipped", NOW, reason="429")
    claimed("1-dry", dry_run=True)
    numbers = ["1-open", "1-done", "1-unknown", "1-settled", "1-refused", "1-429", "1-dry", "1-x"]
    reached = {"1-open", "1-done", "1-unknown", "1-settled"}
    assert store.acted_among("shop-1", numbers, client_id="100500") == reached
    assert store.acted_among("shop-1", numbers) == reached - {"1-settled"}
    for number in numbers:
        assert store.may_have_acted("shop-1", number, client_id="100500") == (number in reached)
