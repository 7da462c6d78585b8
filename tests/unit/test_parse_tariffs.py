"""Parsing Ozon's shipping-speed tariff, its steps, a posting's requirements and the ratings.

The official documents' own examples are parsed as they stand (tests/data/ozon/), so the field
names read are exactly Ozon's.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from daemon.models import Money, Posting, Requirement, TariffStep
from daemon.ozon.parse import NotJSON, ParseError, parse_get, parse_list_page
from daemon.ozon.ratings import parse_error_index, parse_rating_summary
from tests.conftest import FBS_OPENAPI_2026, OZON_FIXTURES
from tests.openapi_schema import load_document


def _fixture(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


def _example(path: str) -> Any:
    doc = load_document(FBS_OPENAPI_2026)
    content = doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
    return content.get("example") or next(iter(content["examples"].values()))["value"]


def _page(*postings: dict[str, Any]) -> bytes:
    return json.dumps({"postings": list(postings), "cursor": "", "has_next": False}).encode()


def _posting(**changes: Any) -> dict[str, Any]:
    posting: dict[str, Any] = copy.deepcopy(
        _fixture("v4_unfulfilled_list.response.page1.json")["postings"][1]
    )
    posting.update(changes)
    return posting


def _one(**changes: Any) -> Posting:
    page = parse_list_page(_page(_posting(**changes)))
    assert not page.problems, page.problems
    (posting,) = page.postings
    return posting


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_official_v4_example_in_its_last_step_has_no_next_tariff_and_needs_a_gtd() -> None:
    page = parse_list_page(json.dumps(_example("/v4/posting/fbs/unfulfilled/list")).encode())
    (posting,) = page.postings
    tariff = posting.tariff
    assert tariff is not None
    assert (tariff.current_type, tariff.current_rate) == ("commission", 3.0)
    assert tariff.current_charge == Money("100", "RUB")
    assert (tariff.next_type, tariff.next_charge, tariff.next_starts_at) == ("", None, None)
    assert posting.next_tariff_starts_at is None
    assert [step.tariff_type for step in posting.tariff_steps] == [
        "discount",
        "discount",
        "commission",
        "commission",
        "commission",
    ]
    first, *_, last = posting.tariff_steps
    assert first == TariffStep(
        tariff_type="discount",
        rate=3.0,
        charge=Money("9", "RUB"),
        ends_at=at("2026-05-04T18:44:37Z"),
    )
    assert last.ends_at is None  # the 9999-12-31 "no further step" marker
    assert last.charge == Money("100", "RUB")
    assert posting.requirements == ("products_requiring_gtd",)
    assert posting.requirement_skus == (Requirement("products_requiring_gtd", (4116250392,)),)


def test_the_official_get_example_reads_text_charges_with_their_currency_code() -> None:
    posting = parse_get(json.dumps(_example("/v3/posting/fbs/get")).encode())
    tariff = posting.tariff
    assert tariff is not None
    assert (tariff.current_type, tariff.current_charge) == ("no_discount", None)  # "" = none
    assert (tariff.next_type, tariff.next_rate) == ("commission", 1.0)
    assert tariff.next_charge == Money("50", "RUB")
    assert tariff.next_starts_at == posting.next_tariff_starts_at == at("2026-03-31T09:00:01Z")
    charges = [(step.rate, step.charge) for step in posting.tariff_steps]
    assert charges == [
        (0.0, Money("0", "RUB")),
        (1.0, Money("50", "RUB")),
        (1.0, Money("50", "RUB")),
        (2.0, Money("100", "RUB")),
        (2.0, Money("100", "RUB")),
        (3.0, Money("150", "RUB")),
    ]
    assert posting.tariff_steps[-1].ends_at is None


@pytest.mark.parametrize(
    "marker",
    ["9999-12-31T23:59:59.999999900Z", "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59Z"],
    ids=["nine-digits", "seven-digits", "whole-seconds"],
)
def test_the_9999_marker_in_next_tariff_starts_at_means_no_next_step(marker: str) -> None:
    tariff = {**_posting()["tariffication"], "next_tariff_starts_at": marker}
    posting = _one(tariffication=tariff)
    assert posting.tariff is not None
    assert posting.tariff.next_starts_at is None
    assert posting.next_tariff_starts_at is None


@pytest.mark.parametrize(
    ("moment", "rate"),
    [
        ("2026-11-26T09:59:59Z", 0.0),
        ("2026-11-26T10:00:00Z", 0.0),  # a step's deadline is its last instant
        ("2026-11-26T10:00:01Z", 1.0),
        ("2026-11-26T22:00:00Z", 1.0),
        ("2030-01-01T00:00:00Z", 3.0),  # the last step never ends
    ],
    ids=["before-deadline", "at-deadline", "just-after", "end-of-second", "years-later"],
)
def test_tariff_step_at_walks_the_timeline(moment: str, rate: float) -> None:
    posting = _one()
    step = posting.tariff_step_at(at(moment))
    assert step is not None
    assert step.rate == rate


def test_a_posting_without_steps_has_no_step_at_any_moment() -> None:
    posting = _one(tariffication_steps=[], tariffication=None)
    assert posting.tariff is None
    assert posting.tariff_steps == ()
    assert posting.tariff_step_at(at("2026-11-26T10:00:00Z")) is None


def test_numeric_amounts_and_missing_currencies_are_read_as_text() -> None:
    steps = [
        {
            "tariff_type": "commission",
            "tariff_rate": 1,
            "tariff_charge": {"amount": 45.9},
            "min_charge": None,
            "tariff_deadline_at": "2026-11-26T22:00:00Z",
        }
    ]
    posting = _one(tariffication_steps=steps)
    assert posting.tariff_steps == (
        TariffStep(
            tariff_type="commission",
            rate=1.0,
            charge=Money("45.9", ""),
            ends_at=at("2026-11-26T22:00:00Z"),
        ),
    )


def test_a_step_deadline_that_is_not_a_date_leaves_the_timeline_unknown_not_the_posting() -> None:
    """The steps are read on demand, not while syncing: a step that cannot be read makes the
    timeline unknown (a timeline with a hole cannot be walked), and the posting is still
    watched with everything a sync relies on."""
    steps = copy.deepcopy(_posting()["tariffication_steps"])
    steps[1]["tariff_deadline_at"] = "tomorrow"
    page = parse_list_page(_page(_posting(tariffication_steps=steps)))
    assert page.problems == []
    (posting,) = page.postings
    assert posting.tariff_steps == ()
    assert posting.tariff_step_at(at("2026-11-26T10:00:00Z")) is None
    assert posting.tariff is not None  # the tariff in force is read on its own


@pytest.mark.parametrize(
    "steps",
    ["not a list", [1, 2], [{"tariff_deadline_at": 20261126}], {"tariff_type": "commission"}],
    ids=["text", "numbers", "numeric-date", "object"],
)
def test_steps_in_a_shape_that_cannot_be_read_are_no_steps(steps: Any) -> None:
    posting = _one(tariffication_steps=steps)
    assert posting.tariff_steps == ()


def test_a_next_tariff_start_that_is_not_a_date_makes_the_posting_a_problem() -> None:
    """`next_tariff_starts_at` is read while syncing (a tariff_step warning depends on it):
    strict, as every date a sync relies on."""
    tariff = {**_posting()["tariffication"], "next_tariff_starts_at": "tomorrow"}
    page = parse_list_page(_page(_posting(tariffication=tariff)))
    assert page.postings == []
    (problem,) = page.problems
    assert problem.field == "tariffication.next_tariff_starts_at"
    assert problem.posting_number == "87341265-0117-1"


def test_the_tariff_json_is_kept_as_ozon_sent_it_and_read_the_same_after_the_store() -> None:
    """The raw tariff survives a round trip through the store's codec (msgspec JSON)."""
    posting = _one()
    again = msgspec.json.decode(msgspec.json.encode(posting), type=Posting)
    assert again == posting
    assert again.tariff == posting.tariff
    assert again.tariff_steps == posting.tariff_steps != ()


def test_requirement_skus_arrive_as_numbers_or_int64_text_and_unknown_lists_count() -> None:
    requirements = {
        "products_requiring_gtd": ["1658203344", 1702299810, "1658203344"],
        "products_requiring_country": [],
        "products_requiring_mandatory_mark": None,
        "products_requiring_something_new": [1811122233],
        "products_requiring_weight": ["not-a-sku"],
    }
    posting = _one(requirements=requirements)
    assert posting.requirements == (
        "products_requiring_gtd",
        "products_requiring_something_new",
        "products_requiring_weight",
    )
    assert posting.requirement_skus == (
        Requirement("products_requiring_gtd", (1658203344, 1702299810)),
        Requirement("products_requiring_something_new", (1811122233,)),
        Requirement("products_requiring_weight", ()),  # still needed, SKU unreadable
    )


def test_rating_summary_reads_every_rating_with_status_and_change() -> None:
    summary = parse_rating_summary((OZON_FIXTURES / "v1_rating_summary.response.json").read_bytes())
    assert [r.rating for r in summary.ratings] == [
        "rating_order_cancellation",
        "rating_shipment_delay",
        "rating_on_time",
        "rating_review_avg_score_total",
    ]
    delay = summary.shipment_delay
    assert delay is not None
    assert (delay.value, delay.past_value, delay.status) == (6.4, 7.9, "WARNING")
    assert (delay.change_direction, delay.change_meaning) == ("DIRECTION_FALL", "MEANING_GOOD")
    assert (delay.direction, delay.value_type, delay.group) == (
        "LOWER_IS_BETTER",
        "PERCENT",
        "Логистика",
    )
    cancellation = summary.cancellation
    assert cancellation is not None
    assert (cancellation.value, cancellation.status) == (1.8, "OK")
    assert summary.get("rating_price") is None
    assert summary.penalty_score_exceeded is False


def test_rating_summary_tolerates_nulls_and_leaves_out_nameless_items() -> None:
    body = {
        "groups": [
            {"group_name": None, "items": [{"rating": None, "current_value": 1}]},
            {"items": [{"rating": "rating_shipment_delay", "status": None, "change": None}]},
            {"group_name": "x", "items": None},
        ],
        "brand_new": True,
    }
    summary = parse_rating_summary(json.dumps(body).encode())
    (only,) = summary.ratings
    assert (only.rating, only.value, only.status, only.change_direction) == (
        "rating_shipment_delay",
        None,
        "",
        "",
    )


def test_error_index_reads_the_window_the_days_and_the_fees() -> None:
    index = parse_error_index(
        (OZON_FIXTURES / "v1_rating_index_fbs_info.response.json").read_bytes()
    )
    assert index.index == 0.052
    assert (index.period_from, index.period_to) == (date(2026, 11, 11), date(2026, 11, 24))
    assert (index.processing_costs_sum, index.currency) == (128.1, "RUB")
    assert len(index.days) == 14
    assert index.days[3].day == date(2026, 11, 14)
    assert (index.days[3].index, index.days[3].processing_costs_sum) == (0.041, 17.7)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period_from": "2026-11-11"}, "index"),
        ({"index": 0, "period_from": "11.11.2026"}, "period_from"),
        ({"index": 0, "period_to": "0001-01-01"}, "period_to"),
        ({"index": 0, "defects": [{"index_by_date": 1}]}, "defects[0].date"),
        ({"index": "high"}, "index"),
    ],
    ids=["no-index", "not-iso", "year-out-of-range", "day-without-date", "index-not-a-number"],
)
def test_an_unusable_error_index_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_error_index(json.dumps(body).encode())
    assert caught.value.field == field


def test_rating_answers_that_are_not_json_raise_not_json() -> None:
    with pytest.raises(NotJSON):
        parse_rating_summary(b"<html>bad gateway</html>")
    with pytest.raises(NotJSON):
        parse_error_index(b"")


def test_step_deadlines_read_on_demand_are_aware_utc_whatever_offset_ozon_writes() -> None:
    steps = copy.deepcopy(_posting()["tariffication_steps"])
    steps[0]["tariff_deadline_at"] = "2026-11-26T13:00:00+03:00"
    steps[1]["tariff_deadline_at"] = "2026-11-26T22:00:00.1234567Z"
    posting = _one(tariffication_steps=steps)
    first, second = posting.tariff_steps[:2]
    assert first.ends_at == at("2026-11-26T10:00:00Z")
    assert first.ends_at is not None and first.ends_at.tzinfo is UTC
    assert second.ends_at == datetime(2026, 11, 26, 22, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2026-11-26T10:00:00", "2026-11-26", "20261126T100000Z"],
    ids=["no-zone", "date", "basic"],
)
def test_a_step_deadline_that_is_not_rfc_3339_with_a_zone_is_unreadable(text: str) -> None:
    steps = copy.deepcopy(_posting()["tariffication_steps"])
    steps[0]["tariff_deadline_at"] = text
    assert _one(tariffication_steps=steps).tariff_steps == ()
