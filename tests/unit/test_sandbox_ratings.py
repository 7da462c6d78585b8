"""The sandbox's ratings and error index follow its postings (and the knobs that force them)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from daemon.sandbox import lifecycle, ratings
from daemon.sandbox.clock import US_PER_S, to_us
from daemon.sandbox.knobs import Knobs
from daemon.sandbox.scenario import one_posting
from daemon.sandbox.store import PostingStore

NOW_US = to_us(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
HOUR = 3600 * US_PER_S
DAY = 24 * HOUR


def _store(taken_days_ago: list[float], due_in_hours: float = -100.0) -> PostingStore:
    """Postings taken in that many days ago, each due `due_in_hours` after it was taken in."""
    store = PostingStore()
    rng = random.Random(5)
    for number, days in enumerate(taken_days_ago):
        taken = NOW_US - round(days * DAY)
        posting = one_posting(
            rng, taken, taken + round(due_in_hours * HOUR), posting_number=f"1000{number:04d}-1-1"
        )
        posting.id = store.new_id()
        store.add(posting)
    return store


def _items(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["rating"]: item for item in answer["groups"][0]["items"]}


def test_a_seller_cancellation_counts_in_the_index_from_the_next_day() -> None:
    store = _store([3.0] * 10)
    victim = store.get("10000000-1-1")
    assert victim is not None
    lifecycle.cancel(store, victim, NOW_US, "seller", 352)
    today = ratings.error_index(store, NOW_US, Knobs())
    tomorrow = ratings.error_index(store, NOW_US + DAY, Knobs())
    assert today["index"] == 0.0
    assert tomorrow["index"] == 0.1  # 1 of the 10 postings taken in within the window
    assert tomorrow["processing_costs_sum"] > 0
    assert tomorrow["defects"][-1]["index_by_date"] == 0.0  # no posting taken in that day
    assert tomorrow["period_to"] == "2026-11-26"


def test_a_buyer_cancellation_is_no_error() -> None:
    store = _store([3.0] * 4)
    posting = store.get("10000001-1-1")
    assert posting is not None
    lifecycle.cancel(store, posting, NOW_US - DAY, "client", lifecycle.BUYER_REASON)
    assert ratings.error_index(store, NOW_US, Knobs())["index"] == 0.0


def test_overdue_postings_raise_the_shipment_delay_rating_and_its_status() -> None:
    # Taken in 5 days ago, due 20 h later: inside the 7-day window, and never handed over.
    store = _store([5.0] * 10, due_in_hours=20)
    delay = _items(ratings.rating_summary(store, NOW_US, Knobs()))["rating_shipment_delay"]
    assert (delay["current_value"], delay["status"]) == (100.0, "CRITICAL")
    assert delay["rating_direction"] == "LOWER_IS_BETTER"


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.0, "OK"), (4.99, "OK"), (5.0, "WARNING"), (9.9, "WARNING"), (10.0, "CRITICAL")],
    ids=["zero", "under-warning", "warning", "under-critical", "critical"],
)
def test_the_ratings_knob_sets_a_value_and_its_status_follows(value: float, status: str) -> None:
    store = _store([])
    knobs = Knobs(ratings={"rating_shipment_delay": value})
    delay = _items(ratings.rating_summary(store, NOW_US, knobs))["rating_shipment_delay"]
    assert (delay["current_value"], delay["status"]) == (value, status)
    if value > 0:
        assert delay["change"] == {"direction": "DIRECTION_RISE", "meaning": "MEANING_BAD"}


def test_the_error_index_knob_is_sent_as_given() -> None:
    answer = ratings.error_index(_store([1.0]), NOW_US, Knobs(error_index=12.5))
    assert answer["index"] == 12.5


@pytest.mark.parametrize(
    "bad",
    [{"ratings": {"rating_shipment_delay": "high"}}, {"ratings": []}, {"error_index": -1}],
    ids=["value-not-a-number", "not-a-mapping", "negative-index"],
)
def test_bad_rating_knobs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="knob"):
        Knobs().update(bad)
