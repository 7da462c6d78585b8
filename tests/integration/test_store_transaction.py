"""Store.transaction(): several verbs commit together or not at all."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.models import LedgerKey
from daemon.store import Store

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def test_ledger_keys_and_outbox_row_commit_together(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        with store.transaction():
            new = store.record_alert_keys("a", [LedgerKey("p1", "overdue", "#0")], NOW)
            store.enqueue_alert("a", "overdue", ["p1"], NOW, urgent=True, payload={"x": 1})
        assert new == [LedgerKey("p1", "overdue", "#0")]
        assert store.fired_keys("a") == {LedgerKey("p1", "overdue", "#0")}
        assert [entry.event for entry in store.history()] == []  # queued, not yet sent


def test_a_failure_inside_a_transaction_rolls_back_every_verb(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        with pytest.raises(RuntimeError, match="boom"), store.transaction():
            store.record_alert_keys("a", [LedgerKey("p1", "overdue", "#0")], NOW)
            store.enqueue_alert("a", "overdue", ["p1"], NOW, urgent=True, payload={})
            raise RuntimeError("boom")
        assert store.fired_keys("a") == set()
        assert store.pending_deliveries() == 0
        # the connection is usable again afterwards
        assert store.record_alert_keys("a", [LedgerKey("p1", "overdue", "#0")], NOW)


def test_reads_inside_a_transaction_see_its_own_writes(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db", mode="writer") as store, store.transaction():
        store.record_alert_keys("a", [LedgerKey("p1", "overdue", "#0")], NOW)
        assert store.fired_keys("a") == {LedgerKey("p1", "overdue", "#0")}
        assert store.digest_counts("a", NOW).watched == 0
