"""Looking a posting up by its number never scans the whole postings table. Found by
bench/scale.py: the outbox checks each reminder's posting is still due (`Store.posting` with an
account that may be None), and with the primary key leading with the account every look-up was
a full scan, 8 ms at 10,000 cached postings and ten times that at 100,000, thousands of times
per poll interval with hundreds of accounts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.store import Store

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def plans(store: Store, call: object) -> list[str]:
    """The query plan lines of every SELECT the store runs for `call()`."""
    conn: sqlite3.Connection = store._conn()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        call()  # type: ignore[operator]
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    return [row[3] for sql in selects for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]


@pytest.mark.parametrize("account", [None, "shop-1"])
def test_a_posting_by_number_is_searched_through_an_index(
    tmp_path: Path, account: str | None
) -> None:
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        lines = plans(store, lambda: store.posting("12345678-0001-1", NOW, account=account))
    scans = [line for line in lines if line.startswith("SCAN p") or line == "SCAN postings"]
    assert scans == [], lines


@pytest.mark.parametrize("account", [None, "shop-1"])
def test_the_staged_alerts_are_read_through_their_index(
    tmp_path: Path, account: str | None
) -> None:
    """Released after every cycle: a scan read every alert ever kept (22 ms at 6,000 alerts,
    growing with keep_history), the largest single cost of a 500-account run's cycles."""
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        lines = plans(store, lambda: store.staged_alerts(account))
    assert [line for line in lines if line == "SCAN alerts"] == [], lines
    assert any("alerts_staged" in line for line in lines), lines
