"""Holds in the store: single postings, the emergency stop (`hold --all`), `is_held`, and the
cached posting numbers `hold` matches against. Every test uses a real SQLite file in tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.models import Posting
from daemon.store import HoldAll, Store

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def posting(number: str) -> Posting:
    return Posting(
        posting_number=number,
        status="awaiting_packaging",
        shipment_date=NOW - 50 * HOUR,
        warehouse_name="Main",
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        opened.upsert_postings("shop-1", [posting("1-1-1"), posting("1-1-2")], NOW)
        opened.upsert_postings("shop-2", [posting("2-1-1")], NOW)
        yield opened


def test_the_emergency_stop_holds_every_posting_of_every_account(store: Store) -> None:
    assert store.global_hold(NOW) is None
    store.hold_all(None, NOW)
    assert store.global_hold(NOW + 1000 * HOUR) == HoldAll(until=None, held_at=NOW)
    cached = store.postings(NOW)
    assert [(c.account, c.held, c.held_until) for c in cached] == [
        ("shop-1", True, None),
        ("shop-1", True, None),
        ("shop-2", True, None),
    ]
    assert store.posting("2-1-1", NOW).held  # type: ignore[union-attr]
    # Postings not even cached yet are held too.
    assert all(store.is_held(n, NOW) for n in ("1-1-1", "2-1-1", "9-9-9"))
    holds = store.holds(NOW)
    assert "9-9-9" in holds and holds.get("9-9-9") is None and holds.hold_all is not None
    assert store.release_all(NOW) and not store.release_all(NOW)
    assert not any(c.held for c in store.postings(NOW))
    assert not store.is_held("1-1-1", NOW) and "1-1-1" not in store.holds(NOW)


def test_an_emergency_stop_with_an_end_expires_by_itself(store: Store) -> None:
    store.hold_all(NOW + 2 * HOUR, NOW)
    [first, *_] = store.postings(NOW + HOUR)
    assert (first.held, first.held_until) == (True, NOW + 2 * HOUR)
    assert store.is_held("1-1-1", NOW + HOUR)
    assert store.holds(NOW + HOUR).get("1-1-1") == NOW + 2 * HOUR
    later = NOW + 2 * HOUR
    assert store.global_hold(later) is None
    assert not store.is_held("1-1-1", later)
    assert not any(c.held for c in store.postings(later))
    assert dict(store.holds(later)) == {}
    assert not store.release_all(later)  # nothing was in force any more


def test_a_posting_held_by_itself_and_by_the_stop_is_held_until_the_later_end(
    store: Store,
) -> None:
    store.hold("1-1-1", NOW + 5 * HOUR, NOW)
    store.hold("1-1-2", None, NOW)
    store.hold_all(NOW + 2 * HOUR, NOW)
    ends = {c.posting_number: c.held_until for c in store.postings(NOW)}
    assert ends == {"1-1-1": NOW + 5 * HOUR, "1-1-2": None, "2-1-1": NOW + 2 * HOUR}
    holds = store.holds(NOW)
    assert (holds["1-1-1"], holds["1-1-2"], holds["2-1-1"]) == (
        NOW + 5 * HOUR,
        None,
        NOW + 2 * HOUR,
    )
    assert dict(holds) == {"1-1-1": NOW + 5 * HOUR, "1-1-2": None}  # the ones held one by one
    # Releasing the stop leaves the seller's own holds alone.
    assert store.release_all(NOW)
    assert {c.posting_number for c in store.postings(NOW) if c.held} == {"1-1-1", "1-1-2"}


def test_is_held_answers_for_one_posting_and_its_hold_expiry(store: Store) -> None:
    store.hold("1-1-1", NOW + HOUR, NOW)
    assert store.is_held("1-1-1", NOW)
    assert not store.is_held("1-1-2", NOW)
    assert not store.is_held("1-1-1", NOW + HOUR)


def test_the_emergency_stop_is_seen_by_a_writer_beside_the_annotator(db_path: Path) -> None:
    with Store.open(db_path) as writer:
        writer.upsert_postings("shop-1", [posting("1-1-1")], NOW)
        with Store.open(db_path, mode="annotate") as annotator:
            annotator.hold_all(None, NOW)
        assert writer.is_held("1-1-1", NOW)
        with Store.open(db_path, mode="reader") as reader:
            assert reader.global_hold(NOW) is not None
            assert reader.postings(NOW)[0].held


def test_posting_numbers_lists_cached_numbers_by_prefix(store: Store) -> None:
    store.upsert_postings("shop-1", [posting("1_1-1"), posting("1%1-1")], NOW)
    store.mark_departed("shop-1", [posting("1-1-2")], NOW)
    assert store.posting_numbers() == ["1%1-1", "1-1-1", "1-1-2", "1_1-1", "2-1-1"]
    assert store.posting_numbers("1-1-") == ["1-1-1", "1-1-2"]  # departed ones too
    assert store.posting_numbers("1_") == ["1_1-1"]  # LIKE wildcards are taken literally
    assert store.posting_numbers("1%") == ["1%1-1"]
    assert store.posting_numbers("3") == []
