"""Dates and posting numbers are range-checked where Ozon's answers are parsed (issue 16.1):
far future = no deadline, far past = an unreadable posting, a number listed twice on one page
kept once, a number that cannot be a key refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from daemon.models import NO_DEADLINE
from daemon.ozon.parse import ParseError, parse_get, parse_key_info, parse_unfulfilled_page

GOOD = "2026-11-26T10:00:00Z"


def wire(number: str = "1-1", shipment_date: Any = GOOD, **fields: Any) -> dict[str, Any]:
    return {"posting_number": number, "status": "awaiting_packaging",
            "shipment_date": shipment_date, **fields}  # fmt: skip


def page(*postings: Any) -> bytes:
    return json.dumps({"postings": list(postings), "has_next": False, "cursor": ""}).encode()


@pytest.mark.parametrize(
    "text",
    ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999900Z", "9999-12-31T23:59:59-05:00",
     "9999-12-31T23:59:59+14:00", "2100-01-01T00:00:00Z", "2300-06-01T12:00:00+03:00"],
)  # fmt: skip
def test_a_far_future_shipment_date_means_no_deadline(text: str) -> None:
    (posting,) = parse_unfulfilled_page(page(wire(shipment_date=text))).postings
    assert posting.shipment_date == NO_DEADLINE
    assert not posting.has_deadline


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+03:00", "0001-01-01T00:00:00-03:00",
     "1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z"],
)  # fmt: skip
def test_a_far_past_shipment_date_makes_the_posting_unreadable_not_the_page(text: str) -> None:
    parsed = parse_unfulfilled_page(page(wire("1-1", text), wire("2-1")))
    assert [p.posting_number for p in parsed.postings] == ["2-1"]
    (problem,) = parsed.problems
    assert (problem.posting_number, problem.field) == ("1-1", "shipment_date")
    with pytest.raises(ParseError):
        parse_get(json.dumps({"result": wire("1-1", text)}).encode())


def test_a_real_deadline_is_kept_as_sent() -> None:
    (posting,) = parse_unfulfilled_page(page(wire())).postings
    assert posting.shipment_date == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert posting.has_deadline


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1999-01-01T00:00:00Z"]
)
def test_optional_dates_outside_the_range_read_as_absent(text: str) -> None:
    data = wire(in_process_at=text, delivering_date=text, shipment_date_without_delay=text,
                tariffication={"next_tariff_starts_at": text})  # fmt: skip
    (posting,) = parse_unfulfilled_page(page(data)).postings
    assert posting.in_process_at is None and posting.delivering_date is None
    assert posting.shipment_date_without_delay is None and posting.next_tariff_starts_at is None
    assert parse_key_info(json.dumps({"expires_at": text}).encode()).expires_at is None


def test_a_posting_listed_twice_on_one_page_is_kept_once_and_reported() -> None:
    first = wire("1-1", GOOD, substatus="first")
    again = wire("1-1", GOOD, substatus="second")
    parsed = parse_unfulfilled_page(page(first, wire("2-1"), again, first))
    assert [(p.posting_number, p.substatus) for p in parsed.postings] == [("1-1", "first"),
                                                                          ("2-1", "")]  # fmt: skip
    assert [(p.posting_number, p.field) for p in parsed.problems] == [
        ("1-1", "posting_number"),
        ("1-1", "posting_number"),
    ]


@pytest.mark.parametrize("number", ["1-1\x00evil", "1-1\n2-1", "1\u20282", "9" * 65])
def test_a_posting_number_that_cannot_be_a_key_is_unreadable(number: str) -> None:
    parsed = parse_unfulfilled_page(page(wire(number), wire("2-1")))
    assert [p.posting_number for p in parsed.postings] == ["2-1"]
    (problem,) = parsed.problems
    assert (problem.posting_number, problem.field) == ("", "posting_number")
