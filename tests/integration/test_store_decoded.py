"""`postings(..., decoded=...)`: the board's repeated reads decode only what changed, and give
exactly what a fresh read gives (content, holds, acknowledgements, departures). Real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.models import Posting
from daemon.store import DecodedPostings, Store

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def posting(number: str, due: datetime, status: str = "awaiting_packaging") -> Posting:
    return Posting(posting_number=number, status=status, shipment_date=due, warehouse_name="Main")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as opened:
        opened.upsert_postings(
            "shop-1", [posting(f"1-{i}-1", NOW + i * HOUR) for i in range(5)], NOW
        )
        yield opened


def same_as_fresh(store: Store, decoded: DecodedPostings, **options: bool) -> None:
    assert store.postings(NOW, decoded=decoded, **options) == store.postings(NOW, **options)


def test_a_repeated_read_reuses_the_decoded_postings(store: Store) -> None:
    decoded = DecodedPostings()
    first = store.postings(NOW, decoded=decoded)
    second = store.postings(NOW, decoded=decoded)
    assert second == first
    assert all(a.posting is b.posting for a, b in zip(first, second, strict=True))
    assert len(decoded.entries) == 5


def test_a_changed_posting_is_decoded_again_and_the_rest_are_not(store: Store) -> None:
    decoded = DecodedPostings()
    first = {c.posting_number: c for c in store.postings(NOW, decoded=decoded)}
    store.upsert_postings("shop-1", [posting("1-2-1", NOW + 9 * HOUR, "awaiting_deliver")], NOW)

    second = {c.posting_number: c for c in store.postings(NOW, decoded=decoded)}

    assert second["1-2-1"].posting.status == "awaiting_deliver"
    assert second["1-2-1"].posting.shipment_date == NOW + 9 * HOUR
    assert list(second)[-1] == "1-2-1"  # the order follows the new deadline
    assert second["1-1-1"].posting is first["1-1-1"].posting
    same_as_fresh(store, decoded)


def test_holds_acknowledgements_and_the_emergency_stop_are_read_fresh(store: Store) -> None:
    decoded = DecodedPostings()
    store.postings(NOW, decoded=decoded)
    store.hold("1-1-1", NOW + HOUR, NOW)
    store.acknowledge("shop-1", "1-3-1", NOW + 3 * HOUR, "Li", NOW)
    same_as_fresh(store, decoded)
    held = {c.posting_number: c.held for c in store.postings(NOW + 2 * HOUR, decoded=decoded)}
    assert held["1-1-1"] is False  # the hold expired: decided at read time
    store.hold_all(None, NOW)
    assert all(c.held for c in store.postings(NOW, decoded=decoded))


def test_departed_postings_leave_the_watch_and_show_with_include_departed(store: Store) -> None:
    decoded = DecodedPostings()
    store.postings(NOW, decoded=decoded, include_departed=True)
    store.mark_departed("shop-1", [posting("1-0-1", NOW, "delivering")], NOW + HOUR)

    watched = store.postings(NOW, decoded=decoded)
    everything = store.postings(NOW, decoded=decoded, include_departed=True)

    assert "1-0-1" not in {c.posting_number for c in watched}
    gone = next(c for c in everything if c.posting_number == "1-0-1")
    assert gone.watched is False and gone.departure == "shipped"
    assert gone.departed_at == NOW + HOUR
    same_as_fresh(store, decoded, include_departed=True)
    same_as_fresh(store, decoded)


def test_an_unchanged_posting_is_the_same_object_and_a_changed_one_is_new(store: Store) -> None:
    decoded = DecodedPostings()
    first = {c.posting_number: c for c in store.postings(NOW, decoded=decoded)}
    store.acknowledge("shop-1", "1-1-1", NOW + HOUR, "Li", NOW)
    second = {c.posting_number: c for c in store.postings(NOW, decoded=decoded)}
    assert second["1-2-1"] is first["1-2-1"]
    assert second["1-1-1"] is not first["1-1-1"] and second["1-1-1"].acknowledged_by == "Li"
    store.hold("1-3-1", NOW + HOUR, NOW)
    held = {c.posting_number: c for c in store.postings(NOW, decoded=decoded)}
    later = {c.posting_number: c for c in store.postings(NOW + 2 * HOUR, decoded=decoded)}
    assert held["1-3-1"].held and not later["1-3-1"].held  # expired: a new object
