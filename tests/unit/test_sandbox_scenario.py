"""Sandbox scenarios, posting lifecycle and scheduled events."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from daemon.sandbox import lifecycle, scenario, wire
from daemon.sandbox.clock import US_PER_S, to_us
from daemon.sandbox.events import Event, Timeline
from daemon.sandbox.store import PostingStore

NOW_US = to_us(datetime(2026, 11, 26, 3, 30, tzinfo=UTC))
HOUR = 3600 * US_PER_S


def _store(name: str = "demo", count: int = 0) -> tuple[PostingStore, scenario.Scenario]:
    built = scenario.build(name, count, NOW_US, seed=3)
    store = PostingStore()
    store.load(built.postings)
    return store, built


def test_bulk_scenario_is_the_same_for_the_same_seed_and_start() -> None:
    one = scenario.build("bulk", 300, NOW_US, seed=11)
    two = scenario.build("bulk", 300, NOW_US, seed=11)
    other = scenario.build("bulk", 300, NOW_US, seed=12)
    assert [wire.posting_v4(p, 0, NOW_US) for p in one.postings] == [
        wire.posting_v4(p, 0, NOW_US) for p in two.postings
    ]
    assert [p.posting_number for p in one.postings] != [p.posting_number for p in other.postings]
    assert [(e.offset_s, e.kind, e.posting_number) for e in one.events] == [
        (e.offset_s, e.kind, e.posting_number) for e in two.events
    ]


def test_bulk_scenario_mixes_every_kind_of_deadline_and_status() -> None:
    postings = scenario.build("bulk", 4000, NOW_US, seed=1).postings
    packaging = [p for p in postings if p.status == "awaiting_packaging"]
    left: Counter[str] = Counter()
    for p in packaging:
        hours = (p.shipment_date - NOW_US) / HOUR
        left["overdue>48h"] += hours < -48
        left["overdue<12h"] += -12 <= hours < 0
        left["<1h"] += 0 <= hours < 1
        left["1-4h"] += 1 <= hours < 4
        left["4-24h"] += 4 <= hours < 24
        left["later"] += hours >= 24
    assert all(count > 20 for count in left.values()), left
    candidates = [p for p in packaging if (p.shipment_date - NOW_US) < -48 * HOUR]
    assert all(p.can_cancel for p in candidates)
    assert {402 in p.reasons for p in candidates} == {True, False}
    assert any(p.mandatory_mark_skus and "ship" not in p.available_actions for p in packaging)
    statuses = Counter(p.status for p in postings)
    assert set(statuses) == {
        "awaiting_packaging",
        "awaiting_deliver",
        "delivering",
        "delivered",
        "cancelled",
    }
    assert len({p.route.warehouse_id for p in postings}) >= 4
    assert len({p.route.id for p in postings}) >= 5
    assert len({p.posting_number for p in postings}) == len(postings)
    assert len({p.id for p in postings}) == len(postings)


def test_a_generated_posting_is_about_as_big_as_the_fixtures() -> None:
    postings = scenario.build("bulk", 200, NOW_US, seed=1).postings
    sizes = [len(wire.posting_v4(p, 0, NOW_US)) for p in postings]
    assert 2000 <= sum(sizes) / len(sizes) <= 4000
    decoded = json.loads(wire.posting_v4(postings[0], wire.ANALYTICS, NOW_US))
    assert decoded["analytics_data"]["warehouse_id"] == postings[0].route.warehouse_id


def test_demo_events_happen_within_twenty_seconds_and_all_apply() -> None:
    store, built = _store()
    assert len(built.postings) == 12
    timeline = Timeline(NOW_US, built.events)
    assert timeline.apply_due(store, NOW_US + 2 * US_PER_S) == 0
    assert timeline.apply_due(store, NOW_US + 20 * US_PER_S) == len(built.events) >= 5
    assert all(applied for _, applied in timeline.applied)
    assert {event.kind for event, _ in timeline.applied} == {
        "new_posting",
        "ship",
        "cancel_by_buyer",
        "move_deadline",
        "split",
        "hand_over",
    }
    split_parent = store.get("10000012-0012-1")
    assert split_parent is not None
    assert split_parent.status == "cancelled_from_split_pending"
    assert split_parent.last_changed == NOW_US + 15 * US_PER_S


def test_bulk_events_keep_changing_postings_during_the_first_hour() -> None:
    store, built = _store("bulk", 600)
    timeline = Timeline(NOW_US, built.events)
    assert timeline.apply_due(store, NOW_US + 1800 * US_PER_S) == 120
    assert timeline.apply_due(store, NOW_US + 3600 * US_PER_S) == 120
    applied = Counter(event.kind for event, ok in timeline.applied if ok)
    assert set(applied) == {"ship", "cancel_by_buyer", "move_deadline", "split", "new_posting"}
    assert len(store) > 600


def test_an_event_that_no_longer_fits_its_posting_is_skipped() -> None:
    store, _ = _store()
    posting = store.get("10000004-0004-1")
    assert posting is not None
    lifecycle.ship(store, posting, NOW_US)
    timeline = Timeline(NOW_US, [Event(1, "ship", "10000004-0004-1"), Event(2, "ship", "nope-1")])
    timeline.apply_due(store, NOW_US + 5 * US_PER_S)
    assert [applied for _, applied in timeline.applied] == [False, False]


def test_shipping_moves_the_status_and_the_last_change_time() -> None:
    store, _ = _store()
    posting = store.get("10000004-0004-1")
    assert posting is not None
    lifecycle.ship(store, posting, NOW_US + 7)
    assert (posting.status, posting.previous_substatus) == ("awaiting_deliver", "posting_created")
    assert posting.last_changed == NOW_US + 7
    assert "ship" not in posting.available_actions
    assert "cancel" in posting.available_actions


def test_moving_a_deadline_is_not_a_status_change() -> None:
    store, _ = _store()
    posting = store.get("10000007-0007-1")
    assert posting is not None
    before = posting.last_changed
    lifecycle.move_deadline(store, posting, NOW_US + 9, NOW_US + HOUR)
    assert posting.shipment_date == NOW_US + HOUR
    assert posting.last_changed == before


def test_a_split_makes_numbered_parts_that_inherit_the_deadline() -> None:
    store, _ = _store()
    parent = store.get("10000012-0012-1")
    assert parent is not None
    parts = lifecycle.split(store, parent, NOW_US, parts=3)
    assert parts == ["10000012-0012-2", "10000012-0012-3", "10000012-0012-4"]
    for number in parts:
        part = store.get(number)
        assert part is not None
        assert part.parent_posting_number == "10000012-0012-1"
        assert part.shipment_date == parent.shipment_date
        assert part.status == "awaiting_packaging"
    assert parent.related == tuple(parts)
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.split(store, parent, NOW_US)


def test_cancelling_twice_is_a_transition_error() -> None:
    store, _ = _store()
    posting = store.get("10000001-0001-1")
    assert posting is not None
    lifecycle.cancel(store, posting, NOW_US, "seller", 352)
    assert posting.cancellation is not None
    assert posting.cancellation.initiator == "Продавец"
    assert posting.cancellation.affect_rating
    with pytest.raises(lifecycle.TransitionError, match="already cancelled"):
        lifecycle.cancel(store, posting, NOW_US, "client", 501)


def test_unknown_scenario_names_the_choices() -> None:
    with pytest.raises(ValueError, match="bulk, demo, empty"):
        scenario.build("huge", 1, NOW_US, 1)
