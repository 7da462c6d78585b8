"""Pruning: records older than keep_history go, once per local day, never watched postings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.models import LedgerKey
from daemon.store import Store
from daemon.upkeep import prune_if_due

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


async def test_old_records_are_pruned_once_per_day(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        old = NOW - timedelta(days=100)
        alert = store.enqueue_alert("a", "overdue", ["1-1"], old, urgent=True, payload={})
        store.record_sent(alert, old)
        store.record_alert_keys("a", [LedgerKey("gone-1", "overdue", "#0")], old)
        store.record_alert_keys("a", [LedgerKey("new-1", "overdue", "#0")], NOW)
        first = await prune_if_due(store, timedelta(days=90), MOSCOW, NOW)
        again = await prune_if_due(store, timedelta(days=90), MOSCOW, NOW + timedelta(hours=1))
        next_day = await prune_if_due(store, timedelta(days=90), MOSCOW, NOW + timedelta(days=1))
        assert first is not None and first.counts["alerts"] == 1 and first.counts["ledger"] == 1
        assert again is None
        assert next_day is not None and next_day.total == 0
        assert store.history() == []
        assert {number for number, _, _ in store.fired_keys("a")} == {"new-1"}
