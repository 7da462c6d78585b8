"""The sandbox's v4 list methods: Ozon's filter rules and stable keyset paging from its indexes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daemon.sandbox import lifecycle, scenario
from daemon.sandbox.body import BadRequest
from daemon.sandbox.clock import US_PER_S, format_us, to_us
from daemon.sandbox.model import UNFULFILLED_STATUSES, SimPosting
from daemon.sandbox.paging import Pager, Query, parse_list, parse_unfulfilled
from daemon.sandbox.store import PostingStore, list_key, open_key

NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
NOW_US = to_us(NOW)
DAY = 86_400 * US_PER_S


def _text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


WIDE = {
    "cutoff_from": _text(NOW - timedelta(days=30)),
    "cutoff_to": _text(NOW + timedelta(days=30)),
}


@pytest.fixture
def store() -> PostingStore:
    fresh = PostingStore()
    fresh.load(scenario.build("bulk", 1500, NOW_US, seed=7).postings)
    return fresh


def _unfulfilled(body: dict[str, Any]) -> Query:
    return parse_unfulfilled(body, json.dumps(body))


def _list(body: dict[str, Any]) -> Query:
    return parse_list(body, json.dumps(body))


def _walk(pager: Pager, body: dict[str, Any], parse: Any = _unfulfilled) -> list[list[str]]:
    pages: list[list[str]] = []
    body = dict(body)
    while True:
        page = pager.page(parse(body))
        pages.append([p.posting_number for p in page.postings])
        if not page.has_next:
            assert page.cursor == ""
            return pages
        body["cursor"] = page.cursor


def _everything(store: PostingStore) -> list[SimPosting]:
    return [p for n in store.numbers() if (p := store.get(n)) is not None]


def test_unfulfilled_pages_return_every_match_once_in_deadline_order(store: PostingStore) -> None:
    statuses = ["awaiting_packaging", "awaiting_deliver"]
    pages = _walk(Pager(store), {"limit": 37, "filter": {**WIDE, "statuses": statuses}})
    low, high = NOW_US - 30 * DAY, NOW_US + 30 * DAY
    expected = sorted(
        (p for p in _everything(store) if p.status in statuses and low <= p.shipment_date <= high),
        key=open_key,
    )
    assert [n for page in pages for n in page] == [p.posting_number for p in expected]
    assert all(len(page) == 37 for page in pages[:-1])
    assert len(expected) > 1000


def test_unfulfilled_count_is_the_total_of_matches_on_every_page(store: PostingStore) -> None:
    pager = Pager(store)
    body: dict[str, Any] = {"limit": 100, "filter": {**WIDE, "warehouse_ids": ["1020001987654000"]}}
    first = pager.page(_unfulfilled(body))
    second = pager.page(_unfulfilled({**body, "cursor": first.cursor}))
    expected = sum(
        1
        for p in _everything(store)
        if p.status in UNFULFILLED_STATUSES
        and p.route.warehouse_id == 1020001987654000
        and NOW_US - 30 * DAY <= p.shipment_date <= NOW_US + 30 * DAY
    )
    assert first.count == second.count == expected
    assert all(p.route.warehouse_id == 1020001987654000 for p in first.postings + second.postings)


def test_descending_paging_is_the_ascending_order_reversed(store: PostingStore) -> None:
    body = {"limit": 50, "filter": {**WIDE, "statuses": ["awaiting_deliver"]}}
    ascending = [n for page in _walk(Pager(store), body) for n in page]
    descending = [n for page in _walk(Pager(store), {**body, "sort_dir": "DESC"}) for n in page]
    assert descending == ascending[::-1]


def test_paging_stays_stable_while_postings_change_between_pages(store: PostingStore) -> None:
    pager = Pager(store)
    body: dict[str, Any] = {"limit": 100, "filter": {**WIDE, "statuses": ["awaiting_packaging"]}}
    before = {n for page in _walk(pager, body) for n in page}
    seen: list[str] = []
    page = pager.page(_unfulfilled(body))
    seen += [p.posting_number for p in page.postings]
    # Ozon ships one posting already returned and one not yet returned.
    lifecycle.ship(store, page.postings[0], NOW_US)
    later = next(n for n in sorted(before - set(seen)))
    later_posting = store.get(later)
    assert later_posting is not None
    lifecycle.ship(store, later_posting, NOW_US)
    while page.has_next:
        page = pager.page(_unfulfilled({**body, "cursor": page.cursor}))
        seen += [p.posting_number for p in page.postings]
    assert len(seen) == len(set(seen))
    assert set(seen) == before - {later}


def test_last_changed_window_finds_a_status_change_in_both_lists(store: PostingStore) -> None:
    pager = Pager(store)
    posting = store.get(store.numbers("awaiting_packaging")[3])
    assert posting is not None
    lifecycle.cancel(store, posting, NOW_US + 5 * US_PER_S, "client", lifecycle.BUYER_REASON)
    window = {"from": format_us(NOW_US + US_PER_S), "to": format_us(NOW_US + 10 * US_PER_S)}
    listed = pager.page(
        _list(
            {
                "limit": 100,
                "filter": {
                    "since": _text(NOW - timedelta(days=60)),
                    "to": _text(NOW + timedelta(days=1)),
                    "last_changed_status_date": window,
                },
            }
        )
    )
    assert [p.posting_number for p in listed.postings] == [posting.posting_number]
    assert listed.postings[0].status == "cancelled"
    still_open = pager.page(
        _unfulfilled({"limit": 100, "filter": {**WIDE, "last_changed_status_date": window}})
    )
    assert still_open.postings == []
    assert still_open.count == 0


def test_fbs_list_pages_everything_in_processing_order(store: PostingStore) -> None:
    body = {
        "limit": 100,
        "filter": {"since": _text(NOW - timedelta(days=60)), "to": _text(NOW)},
    }
    names = [n for page in _walk(Pager(store), body, _list) for n in page]
    expected = sorted(_everything(store), key=list_key)
    assert names == [p.posting_number for p in expected]
    assert {"delivered", "cancelled"} <= {p.status for p in expected}


@pytest.mark.parametrize(
    ("filt", "message"),
    [
        ({}, "either filter.cutoff or filter.delivering_date must be specified"),
        (
            {"cutoff_from": None, "cutoff_to": None, "delivering_date_from": None},
            "either filter.cutoff or filter.delivering_date must be specified",
        ),
        (
            {**WIDE, "delivering_date_from": _text(NOW), "delivering_date_to": _text(NOW)},
            "the mismatch between cutoff & delivery date",
        ),
        ({**WIDE, "delivering_date_to": _text(NOW)}, "the mismatch between cutoff & delivery date"),
        (
            {
                "cutoff_from": _text(NOW - timedelta(days=200)),
                "cutoff_to": _text(NOW + timedelta(days=200)),
            },
            "PERIOD_IS_TOO_LONG",
        ),
    ],
    ids=["no-window", "nulls-are-absent", "both-windows", "half-second-window", "over-a-year"],
)
def test_unfulfilled_filter_rules_answer_ozons_messages(filt: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        _unfulfilled({"limit": 10, "filter": filt})
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, 3, message)


@pytest.mark.parametrize("limit", [0, 101, 1000, None])
def test_limit_outside_1_to_100_is_rejected(limit: int | None) -> None:
    with pytest.raises(BadRequest, match=r"Limit: value must be inside range \[1, 100\]"):
        _unfulfilled({"limit": limit, "filter": WIDE})


def test_list_period_over_a_year_is_period_is_too_long() -> None:
    body = {"limit": 10, "filter": {"since": "2025-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}}
    with pytest.raises(BadRequest, match=r"^PERIOD_IS_TOO_LONG$"):
        _list(body)


def test_filter_sent_as_an_array_is_a_proto_syntax_error() -> None:
    raw = '{"limit": 10, "filter": []}'
    with pytest.raises(
        BadRequest, match=r"^proto: syntax error \(line 1:25\): unexpected token \[$"
    ):
        parse_unfulfilled(json.loads(raw), raw)


def test_a_cursor_that_was_tampered_with_is_rejected(store: PostingStore) -> None:
    with pytest.raises(BadRequest, match="invalid cursor"):
        _unfulfilled({"limit": 10, "filter": WIDE, "cursor": "bm90IGEgY3Vyc29y"})
    page = Pager(store).page(_unfulfilled({"limit": 10, "filter": WIDE}))
    with pytest.raises(BadRequest, match="invalid cursor"):
        _list(
            {"limit": 10, "cursor": page.cursor, "filter": {"since": _text(NOW), "to": _text(NOW)}}
        )


def test_int64_filters_accept_numbers_and_digit_strings(store: PostingStore) -> None:
    pager = Pager(store)
    as_text = pager.page(
        _unfulfilled({"limit": 100, "filter": {**WIDE, "warehouse_ids": ["1020003777000000"]}})
    )
    as_number = pager.page(
        _unfulfilled({"limit": 100, "filter": {**WIDE, "warehouse_ids": [1020003777000000]}})
    )
    assert as_text.postings == as_number.postings != []
