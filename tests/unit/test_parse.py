"""Parsing Ozon answers into models: every fixture, the tolerant cases and the strict ones."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from daemon.models import KeyInfo
from daemon.ozon import key_expires_soon, parse
from daemon.ozon.parse import (
    NotJSON,
    ParseError,
    parse_cancel_reason_list,
    parse_cancel_reasons,
    parse_cancel_result,
    parse_datetime,
    parse_error_body,
    parse_get,
    parse_key_info,
    parse_list_page,
    parse_unfulfilled_page,
)
from daemon.ozon.ratings import parse_error_index, parse_rating_summary
from tests.conftest import (
    FBS_OPENAPI_2026,
    OZON_FIXTURES,
    RATING_INDEX_OPENAPI,
    SELLER_OPENAPI_2025,
)

# Every fixture file is classified here, so a new fixture fails the inventory test until it is.
RESPONSE_FIXTURES = {
    "v4_unfulfilled_list.response.page1.json": parse_unfulfilled_page,
    "v4_unfulfilled_list.response.page2_last.json": parse_unfulfilled_page,
    "v4_unfulfilled_list.response.string_price.json": parse_unfulfilled_page,
    "v4_fbs_list.response.json": parse_list_page,
    "v3_fbs_get.response.json": parse_get,
    "v1_cancel_reason.response.json": parse_cancel_reasons,
    "v2_cancel_reason_list.response.json": parse_cancel_reason_list,
    "v2_cancel.response.json": parse_cancel_result,
    "v1_rating_summary.response.json": parse_rating_summary,
    "v1_rating_index_fbs_info.response.json": parse_error_index,
}
ERROR_FIXTURES = {
    "error_400_bad_json.json": (400, 3),
    "error_400_missing_window.json": (400, 3),
    "error_403_bad_key.json": (403, 7),
    "error_403_access_denied_legacy.json": (403, "ACCESS_DENIED"),
    "error_403_missing_role.json": (403, 7),
    "error_429_rate_limit.json": (429, 8),
    "v2_cancel.error_wrong_reason.json": (400, 3),
}
REQUEST_FIXTURES = {
    "v4_unfulfilled_list.request.json",
    "v4_unfulfilled_list.request.page2.json",
    "v4_fbs_list.request.json",
    "v3_fbs_get.request.json",
    "v1_cancel_reason.request.json",
    "v2_cancel_reason_list.request.json",
    "v2_cancel.request.json",
    "v2_cancel.request_reason402.json",
}
# Methods and pushes the client does not call or receive (yet): not parsed here.
NOT_CLIENT_FIXTURES = {
    "v2_product_cancel.request.json",
    "v2_product_cancel.response.json",
    "v1_posting_cutoff_set.request.json",
    "v1_posting_cutoff_set.response.json",
    "v1_timeslot_change_restrictions.request.json",
    "v1_timeslot_change_restrictions.response.json",
    "v4_ship.request.json",
    "v4_ship.response.json",
    "push_type_new_posting.json",
    "push_type_posting_cancelled.json",
    "push_type_cutoff_date_changed.json",
}


def fixture_bytes(name: str) -> bytes:
    return (OZON_FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def page_bytes(postings: list[Any], **extra: Any) -> bytes:
    return json.dumps({"has_next": False, "cursor": "", "postings": postings, **extra}).encode()


def a_posting(**changes: Any) -> dict[str, Any]:
    posting: dict[str, Any] = copy.deepcopy(
        fixture_json("v4_unfulfilled_list.response.page1.json")["postings"][1]
    )
    for key, value in changes.items():
        if value is ...:
            posting.pop(key, None)
        else:
            posting[key] = value
    return posting


def test_every_fixture_file_is_classified() -> None:
    documents = {FBS_OPENAPI_2026.name, SELLER_OPENAPI_2025.name, RATING_INDEX_OPENAPI.name}
    on_disk = {path.name for path in OZON_FIXTURES.glob("*.json")} - documents
    known = set(RESPONSE_FIXTURES) | set(ERROR_FIXTURES) | REQUEST_FIXTURES | NOT_CLIENT_FIXTURES
    assert on_disk == known


@pytest.mark.parametrize("name", sorted(RESPONSE_FIXTURES))
def test_every_response_fixture_parses(name: str) -> None:
    result = RESPONSE_FIXTURES[name](fixture_bytes(name))
    if isinstance(result, parse.Page):
        assert result.postings and not result.problems
    else:
        assert result


@pytest.mark.parametrize("name", sorted(ERROR_FIXTURES))
def test_error_fixtures_give_ozons_code_and_message(name: str) -> None:
    fixture = fixture_json(name)
    body = fixture.get("body", fixture)
    status, code = ERROR_FIXTURES[name]
    assert fixture.get("_http", {}).get("status", 400) == status
    message = body.get("error", body)["message"]  # rpcStatus, or the older {"error": {...}}
    assert parse_error_body(json.dumps(body).encode()) == (code, message)


def test_the_older_error_body_gives_its_code_name_and_message() -> None:
    body = fixture_json("error_403_access_denied_legacy.json")["body"]
    assert parse_error_body(json.dumps(body).encode()) == (
        "ACCESS_DENIED",
        "Invalid Api-Key, please contact support",
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"result": null}',
        b'{"error": "Unauthorized"}',
        b'{"error": {"data": []}}',
        b'{"message": 5, "code": 3}',
        b"[]",
        b'"Bad Gateway"',
        b"null",
    ],
    ids=["json-object", "error-string", "error-empty", "wrong-types", "array", "string", "null"],
)
def test_an_error_body_in_neither_shape_gives_its_first_characters(body: bytes) -> None:
    assert parse_error_body(body) == (None, body.decode())


def test_a_long_unknown_json_error_body_is_cut_to_200_characters_on_one_line() -> None:
    body = json.dumps({"detail": "x" * 500, "trace": ["a", "b"]}, indent=2).encode()
    code, message = parse_error_body(body)
    assert code is None
    assert message.startswith('{ "detail": "xxx') and "\n" not in message
    assert len(message) <= 200


def test_unfulfilled_page_gives_postings_with_aware_utc_dates_and_paging() -> None:
    page = parse_unfulfilled_page(fixture_bytes("v4_unfulfilled_list.response.page1.json"))
    assert page.has_next is True
    assert page.cursor.startswith("eyJmaWVsZHMi")
    assert page.count == 3
    first, second = page.postings
    assert first.posting_number == "87340019-0042-2"
    assert first.status == "awaiting_deliver"
    assert first.substatus == "posting_not_in_carriage"
    assert first.parent_posting_number == "87340019-0042-1"
    assert first.cancellation is None
    assert first.next_tariff_starts_at is None
    assert second.shipment_date == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert second.shipment_date.tzinfo is UTC
    assert second.shipment_date_without_delay == datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
    assert second.in_process_at == datetime(2026, 11, 25, 8, 12, 40, tzinfo=UTC)
    assert second.delivering_date is None
    assert second.next_tariff_starts_at == datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC)
    assert second.order_id == 41922837451
    assert second.order_number == "87341265-0117"
    assert second.warehouse_id == 1020001234567000
    assert second.warehouse_name == "Main FBS warehouse"
    assert second.delivery_method_id == 1020001234567000
    assert second.delivery_method_name == "Ozon delivery self drop-off, Khimki"
    assert second.tpl_integration_type == "ozon"
    assert second.can_cancel
    assert "has_barcode_for_printing" in second.available_actions
    (product,) = second.products
    assert (product.sku, product.offer_id, product.quantity) == (1658203344, "MUG-330-BLUE", 2)
    assert (product.price, product.currency) == ("590", "RUB")


def test_requirements_name_only_the_non_empty_lists() -> None:
    page = parse_unfulfilled_page(fixture_bytes("v4_unfulfilled_list.response.page2_last.json"))
    (posting,) = page.postings
    assert posting.requirements == ("products_requiring_mandatory_mark",)
    assert page.has_next is False


def test_result_wrapped_page_parses_like_the_documented_top_level_one() -> None:
    top = fixture_json("v4_unfulfilled_list.response.page1.json")
    wrapped = json.dumps({"result": top}).encode()
    assert parse_unfulfilled_page(wrapped) == parse_unfulfilled_page(json.dumps(top).encode())


def test_fbs_list_reports_a_seller_cancellation() -> None:
    page = parse_list_page(fixture_bytes("v4_fbs_list.response.json"))
    (posting,) = page.postings
    assert posting.status == "cancelled"
    assert posting.cancellation is not None
    assert posting.cancellation.reason_id == 352
    assert posting.cancellation.cancellation_type == "seller"
    assert posting.cancellation.initiator == "Продавец"
    assert posting.cancellation.affect_cancellation_rating is True
    assert page.count is None


def test_get_reads_string_price_with_currency_code_and_object_prr_option() -> None:
    posting = parse_get(fixture_bytes("v3_fbs_get.response.json"))
    assert posting.posting_number == "87341265-0117-1"
    (product,) = posting.products
    assert (product.price, product.currency) == ("590.0000", "RUB")
    assert posting.next_tariff_starts_at == datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC)


def test_a_list_page_with_string_prices_keeps_each_products_currency_code() -> None:
    page = parse_unfulfilled_page(fixture_bytes("v4_unfulfilled_list.response.string_price.json"))
    (posting,) = page.postings
    assert [(p.sku, p.price, p.currency) for p in posting.products] == [
        (1733344455, "1390.000000", "RUB"),
        (1733344466, "45.500000", "CNY"),
    ]


@pytest.mark.parametrize(
    ("price", "beside", "expected"),
    [
        ({"amount": "590", "currency": "RUB"}, {}, ("590", "RUB")),
        ({"amount": "590", "currency_code": "KZT"}, {}, ("590", "KZT")),
        ({"amount": 590.5}, {"currency_code": "BYN"}, ("590.5", "BYN")),
        ("1390.000000", {"currency_code": "RUB"}, ("1390.000000", "RUB")),
        (1390, {"currency_code": "RUB"}, ("1390", "RUB")),
        ("1390.000000", {}, ("1390.000000", "")),
        (None, {"currency_code": "RUB"}, ("", "RUB")),
    ],
    ids=[
        "object",
        "object-currency-code",
        "object-without-currency",
        "string",
        "number",
        "string-without-currency",
        "no-price",
    ],
)
def test_the_currency_is_kept_wherever_the_price_is_in_lists_and_get(
    price: Any, beside: dict[str, str], expected: tuple[str, str]
) -> None:
    posting = a_posting()
    posting["products"][0].pop("currency_code", None)
    posting["products"][0].update(price=price, **beside)
    (listed,) = parse_list_page(page_bytes([posting])).postings
    got = parse_get(json.dumps({"result": posting}).encode())
    assert (listed.products[0].price, listed.products[0].currency) == expected
    assert (got.products[0].price, got.products[0].currency) == expected


def test_v4_posting_tolerates_get_style_fields_and_array_tariffication() -> None:
    posting = a_posting(
        prr_option={"code": "lift", "price": "100", "currency_code": "RUB", "floor": "3"},
        tariffication=[{"next_tariff_starts_at": "2026-11-26T10:00:01Z"}],
    )
    posting["products"][0]["price"] = "590.5"
    (parsed,) = parse_list_page(page_bytes([posting])).postings
    assert parsed.next_tariff_starts_at == datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC)
    assert parsed.products[0].price == "590.5"


def test_ids_may_arrive_as_strings_or_numbers() -> None:
    posting = a_posting(order_id="41922837451")
    posting["delivery_method"]["warehouse_id"] = "1020001234567000"
    posting["products"][0]["sku"] = "1658203344"
    posting["cancellation"]["cancel_reason_id"] = "0"
    (parsed,) = parse_list_page(page_bytes([posting])).postings
    assert parsed.order_id == 41922837451
    assert parsed.warehouse_id == 1020001234567000
    assert parsed.products[0].sku == 1658203344


def test_ids_as_strings_fall_back_to_the_lenient_decoder_for_the_whole_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The strict decoder (tried first, faster) refuses string ids; the lenient one then reads
    the same page in one go, giving exactly what numbers give, without the per-posting path."""
    numbers = a_posting(order_id=41922837451)
    numbers["delivery_method"]["warehouse_id"] = 1020001234567000
    numbers["products"][0]["sku"] = 1658203344
    strings = copy.deepcopy(numbers)
    strings["order_id"] = "41922837451"
    strings["delivery_method"]["warehouse_id"] = "1020001234567000"
    strings["products"][0]["sku"] = "1658203344"

    def fail(data: bytes) -> parse.Page:
        raise AssertionError("slow path used")

    monkeypatch.setattr(parse, "_parse_v4_page_slowly", fail)
    other = copy.deepcopy(numbers)  # another posting: one number twice on a page is kept once
    other["posting_number"] = numbers["posting_number"] + "0"
    from_strings = parse_list_page(page_bytes([strings, other])).postings
    from_numbers = parse_list_page(page_bytes([numbers])).postings
    renamed = msgspec.structs.replace(from_strings[1], posting_number=numbers["posting_number"])
    assert from_strings[0] == renamed == from_numbers[0]
    assert from_strings[0].order_id == 41922837451


def test_nulls_unknown_fields_and_unknown_enum_values_are_accepted() -> None:
    posting = a_posting(
        status="some_future_status",
        substatus=None,
        order_id=None,
        order_number=None,
        delivery_method=None,
        cancellation=None,
        tariffication=None,
        requirements=None,
        products=None,
        available_actions=["cancel", "brand_new_action"],
        brand_new_field={"nested": [1, 2, 3]},
        in_process_at=None,
        shipment_date_without_delay="",
    )
    (parsed,) = parse_list_page(page_bytes([posting])).postings
    assert parsed.status == "some_future_status"
    assert parsed.available_actions == ("cancel", "brand_new_action")
    assert (parsed.substatus, parsed.order_id, parsed.warehouse_id) == ("", None, None)
    assert parsed.products == ()
    assert parsed.in_process_at is None
    assert parsed.shipment_date_without_delay is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shipment_date": ...}, "shipment_date"),
        ({"shipment_date": None}, "shipment_date"),
        ({"status": ...}, "status"),
        ({"status": ""}, "status"),
        ({"shipment_date": "26.11.2026 10:00"}, "shipment_date"),
        ({"shipment_date": "2026-11-26T10:00:00"}, "shipment_date"),
        ({"in_process_at": "yesterday"}, "in_process_at"),
        ({"shipment_date": 1764151200}, "shipment_date"),
        ({"order_id": "not-a-number"}, "order_id"),
        ({"available_actions": "cancel"}, "available_actions"),
    ],
    ids=[
        "missing-shipment-date",
        "null-shipment-date",
        "missing-status",
        "empty-status",
        "non-rfc3339-date",
        "date-without-zone",
        "unparseable-in-process-at",
        "number-date",
        "non-numeric-id",
        "string-instead-of-list",
    ],
)
def test_one_bad_posting_is_reported_by_field_and_skipped_while_the_rest_arrive(
    change: dict[str, Any], field: str
) -> None:
    good_before = a_posting(posting_number="1-1-1")
    bad = a_posting(posting_number="2-2-2", **change)
    good_after = a_posting(posting_number="3-3-3")
    page = parse_unfulfilled_page(page_bytes([good_before, bad, good_after], has_next=True))
    assert [p.posting_number for p in page.postings] == ["1-1-1", "3-3-3"]
    (problem,) = page.problems
    assert (problem.posting_number, problem.field) == ("2-2-2", field)
    assert problem.message
    assert page.has_next is True


def test_a_posting_without_number_or_not_an_object_is_reported_with_an_empty_number() -> None:
    page = parse_list_page(page_bytes([a_posting(posting_number=...), None, 7, a_posting()]))
    assert [p.posting_number for p in page.postings] == ["87341265-0117-1"]
    assert [(p.posting_number, p.field) for p in page.problems] == [
        ("", "posting_number"),
        ("", ""),
        ("", ""),
    ]


def test_a_clean_page_never_takes_the_slow_per_posting_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(data: bytes) -> parse.Page:
        raise AssertionError("slow path used")

    monkeypatch.setattr(parse, "_parse_v4_page_slowly", fail)
    page = parse_unfulfilled_page(fixture_bytes("v4_unfulfilled_list.response.page1.json"))
    assert len(page.postings) == 2


def test_a_page_without_has_next_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse_unfulfilled_page(json.dumps({"postings": [a_posting()], "cursor": ""}).encode())
    assert caught.value.field == "has_next"


def test_a_page_with_has_next_of_the_wrong_type_names_the_field() -> None:
    body = {"result": {"postings": [], "cursor": "", "has_next": "maybe"}}
    with pytest.raises(ParseError) as caught:
        parse_list_page(json.dumps(body).encode())
    assert caught.value.field == "has_next"


@pytest.mark.parametrize("body", [b"", b"<html>502 Bad Gateway</html>", b'{"postings": ['])
def test_a_body_that_is_not_json_raises_not_json(body: bytes) -> None:
    with pytest.raises(NotJSON):
        parse_unfulfilled_page(body)
    with pytest.raises(NotJSON):
        parse_get(body)


def test_get_without_shipment_date_names_the_field_and_the_posting() -> None:
    answer = fixture_json("v3_fbs_get.response.json")
    del answer["result"]["shipment_date"]
    with pytest.raises(ParseError) as caught:
        parse_get(json.dumps(answer).encode())
    assert (caught.value.field, caught.value.posting_number) == (
        "shipment_date",
        "87341265-0117-1",
    )


def test_get_with_a_wrongly_typed_field_names_the_field_and_the_posting() -> None:
    answer = fixture_json("v3_fbs_get.response.json")
    answer["result"]["products"][0]["quantity"] = {"oops": 1}
    with pytest.raises(ParseError) as caught:
        parse_get(json.dumps(answer).encode())
    assert caught.value.field == "products[0].quantity"
    assert caught.value.posting_number == "87341265-0117-1"


def test_get_without_result_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse_get(b'{"posting_number": "1-1-1"}')
    assert caught.value.field == "result"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("2026-11-26T10:00:00.042Z", datetime(2026, 11, 26, 10, 0, 0, 42000, tzinfo=UTC)),
        ("2026-11-26T10:00:00.1Z", datetime(2026, 11, 26, 10, 0, 0, 100000, tzinfo=UTC)),
        ("2026-11-26T10:00:00.123456789Z", datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-26t10:00:00z", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("2026-11-26 10:00:00Z", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("2026-11-26T13:00:00+03:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("2026-11-26T07:00:00.5-03:00", datetime(2026, 11, 26, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-26T10:00:00+00:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        (
            "9999-12-31T23:59:59.999999900Z",
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
    ],
)
def test_parse_datetime_accepts_rfc3339_and_returns_aware_utc(
    text: str, expected: datetime
) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-26",
        "2026-11-26T10:00:00",
        "2026-11-26T10:00Z",
        "2026-11-26T10:00:00.Z",
        "2026-11-26T10:00:00.1234567890Z",
        "2026-13-26T10:00:00Z",
        "2026-11-26T10:00:00+0300",
        "26.11.2026 10:00",
    ],
)
def test_parse_datetime_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="date-time"):
        parse_datetime(text)


def test_cancel_reasons_are_given_per_posting() -> None:
    first, second = parse_cancel_reasons(fixture_bytes("v1_cancel_reason.response.json"))
    assert first.posting_number == "87341265-0117-1"
    assert [r.id for r in first.reasons] == [352, 400, 402]
    assert first.allows(400) and not second.allows(400)
    assert first.reasons[0].type_id == "seller"
    assert first.reasons[0].available_for_cancellation is None


def test_a_cancel_reason_without_id_is_a_parse_error() -> None:
    body = {"result": [{"posting_number": "1-1-1", "reasons": [{"title": "x"}]}]}
    with pytest.raises(ParseError) as caught:
        parse_cancel_reasons(json.dumps(body).encode())
    assert (caught.value.field, caught.value.posting_number) == ("result[0].reasons[0].id", "1-1-1")


def test_cancel_reason_list_keeps_the_availability_flag() -> None:
    reasons = parse_cancel_reason_list(fixture_bytes("v2_cancel_reason_list.response.json"))
    flags = {reason.id: reason.available_for_cancellation for reason in reasons}
    assert flags[352] is True and flags[401] is False
    assert {reason.type_id for reason in reasons} == {"seller", "buyer"}


def test_cancel_result_must_be_present() -> None:
    assert parse_cancel_result(b'{"result": true}') is True
    assert parse_cancel_result(b'{"result": false}') is False
    with pytest.raises(ParseError):
        parse_cancel_result(b"{}")


def test_key_info_reads_role_names_and_expiry() -> None:
    body = {
        "roles": [{"name": "Admin", "methods": ["/v1/actions"]}, {"name": "Posting FBS"}],
        "expires_at": "2026-12-01T00:00:00Z",
    }
    info = parse_key_info(json.dumps(body).encode())
    assert info == KeyInfo(
        roles=("Admin", "Posting FBS"), expires_at=datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert parse_key_info(b'{"roles": []}') == KeyInfo()
    with pytest.raises(ParseError):
        parse_key_info(b'{"roles": [], "expires_at": "soon"}')


@pytest.mark.parametrize(
    ("expires_in", "soon"),
    [
        (None, False),
        (timedelta(days=30), False),
        (timedelta(days=7, seconds=1), False),
        (timedelta(days=7), True),
        (timedelta(hours=1), True),
        (timedelta(days=-1), True),
    ],
    ids=["unknown", "month", "just-over-7-days", "exactly-7-days", "hour", "expired"],
)
def test_key_expires_soon_within_seven_days(expires_in: timedelta | None, soon: bool) -> None:
    now = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
    key = KeyInfo(roles=("Admin",), expires_at=None if expires_in is None else now + expires_in)
    assert key_expires_soon(key, now) is soon


def test_error_body_that_is_not_json_keeps_a_short_single_line_excerpt() -> None:
    code, message = parse_error_body(b"<html>\n<b>502</b>   Bad Gateway\n</html>" + b"x" * 500)
    assert code is None
    assert message.startswith("<html> <b>502</b> Bad Gateway")
    assert len(message) <= 200


def test_offsets_in_posting_dates_are_converted_to_utc() -> None:
    posting = a_posting(shipment_date="2026-11-26T13:00:00+03:00")
    (parsed,) = parse_list_page(page_bytes([posting])).postings
    assert parsed.shipment_date == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert parsed.shipment_date.utcoffset() == UTC.utcoffset(None)
