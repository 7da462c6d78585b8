"""Acknowledgements in the store (issue 18.2): who took a posting in hand lasts for the deadline
it was made for; a moved deadline clears it; history shows every one. Real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.models import Posting
from daemon.store import Store

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(hours=3)
MINUTE = timedelta(minutes=1)


def posting(number: str, due: datetime = DUE) -> Posting:
    return Posting(posting_number=number, status="awaiting_packaging", shipment_date=due)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as opened:
        opened.upsert_postings("shop-1", [posting("1-1-1"), posting("1-1-2")], NOW)
        opened.upsert_postings("shop-2", [posting("2-1-1")], NOW)
        yield opened


def acks(store: Store, at: datetime = NOW) -> dict[str, tuple[str | None, datetime | None]]:
    return {c.posting_number: (c.acknowledged_by, c.acknowledged_at) for c in store.postings(at)}


def test_an_acknowledgement_shows_on_the_posting_and_the_newest_one_wins(store: Store) -> None:
    assert acks(store) == {n: (None, None) for n in ("1-1-1", "1-1-2", "2-1-1")}
    store.acknowledge("shop-1", "1-1-1", DUE, "Li", NOW)
    store.acknowledge("shop-1", "1-1-1", DUE, "Wang", NOW + MINUTE)

    assert acks(store)["1-1-1"] == ("Wang", NOW + MINUTE)
    assert acks(store)["1-1-2"] == (None, None)
    cached = store.posting("1-1-1", NOW)
    assert cached is not None and cached.acknowledged_by == "Wang"
    assert store.acknowledged_numbers("shop-1") == {"1-1-1"}
    assert store.acknowledged_numbers("shop-2") == set()


def test_an_acknowledgement_is_per_account(store: Store) -> None:
    store.upsert_postings("shop-2", [posting("1-1-1")], NOW)  # the same number elsewhere
    store.acknowledge("shop-2", "1-1-1", DUE, "Li", NOW)
    by_account = {(c.account, c.posting_number): c.acknowledged_by for c in store.postings(NOW)}
    assert by_account[("shop-2", "1-1-1")] == "Li"
    assert by_account[("shop-1", "1-1-1")] is None


def test_a_moved_deadline_clears_the_acknowledgement(store: Store) -> None:
    store.acknowledge("shop-1", "1-1-1", DUE, "Li", NOW)
    store.upsert_postings("shop-1", [posting("1-1-1", DUE + timedelta(hours=5))], NOW + MINUTE)

    assert acks(store)["1-1-1"] == (None, None)
    assert store.acknowledged_numbers("shop-1") == set()


def test_an_acknowledgement_for_another_deadline_is_not_in_force(store: Store) -> None:
    store.acknowledge("shop-1", "1-1-1", DUE - timedelta(hours=1), "Li", NOW)
    assert acks(store)["1-1-1"] == (None, None)


def test_history_shows_every_acknowledgement_as_an_action(store: Store) -> None:
    store.acknowledge("shop-1", "1-1-1", DUE, "Li", NOW)
    store.acknowledge("shop-2", "2-1-1", DUE, "Wang", NOW + MINUTE)

    entries = [entry.as_json() for entry in store.history()]

    assert entries == [
        {
            "at": "2026-05-01T09:01:00Z",
            "account": "shop-2",
            "event": "acknowledged",
            "posting_numbers": ["2-1-1"],
            "dry_run": False,
            "reason": "by Wang",
            "kind": "action",
        },
        {
            "at": "2026-05-01T09:00:00Z",
            "account": "shop-1",
            "event": "acknowledged",
            "posting_numbers": ["1-1-1"],
            "dry_run": False,
            "reason": "by Li",
            "kind": "action",
        },
    ]


def test_acknowledging_works_beside_a_running_writer(store: Store) -> None:
    with Store.open(store.path, mode="annotate") as side:
        side.acknowledge("shop-1", "1-1-2", DUE, "Li", NOW)
    assert acks(store)["1-1-2"] == ("Li", NOW)
    with Store.open(store.path, mode="reader") as reader:
        cached = reader.posting("1-1-2", NOW)
        assert cached is not None and cached.acknowledged_by == "Li"
