"""Wire Structs: the JSON shapes of the Ozon answers the client reads, per endpoint.

Internal to `daemon.ozon` (use `daemon.ozon.parse`). Each Struct declares only the fields we
read, every one optional, so unknown fields are skipped and `null` is accepted; `decode` falls
back to `strict=False` so int64 ids may come as numbers or strings. Dates stay text here
(`daemon.ozon.dates` turns them into aware UTC datetimes through a cache). Where one field has
different types between methods the Structs differ per endpoint, or the field is a union
(`price`); fields we do not read (`prr_option`, `financial_data`, ...) are not declared at all,
and fields read only on demand (`tariffication`, `tariffication_steps`) or rarely
(`requirements`) are kept as raw JSON. The Structs of a posting are `gc=False` (decoded trees
never form reference cycles; a page decodes hundreds of them, which would otherwise keep the
garbage collector busy). `ParseError` and `NotJSON` are the parsing errors of every module.

This module imports only msgspec and the standard library.
"""

from __future__ import annotations

from typing import Any

import msgspec


class NotJSON(ValueError):
    """The body is not JSON at all (a proxy page, a truncated body): worth retrying."""


class ParseError(ValueError):
    """A JSON answer lacks something we rely on or has it in a shape we cannot read."""

    def __init__(self, message: str, *, field: str = "", posting_number: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.posting_number = posting_number


class Money(msgspec.Struct, gc=False):
    amount: str | int | float | None = None
    currency: str | None = None
    currency_code: str | None = None


class DeliveryMethod(msgspec.Struct, gc=False):
    id: int | None = None
    name: str | None = None
    warehouse_id: int | None = None
    warehouse: str | None = None


class Cancellation(msgspec.Struct, gc=False):
    cancel_reason_id: int | None = None
    cancel_reason: str | None = None
    cancellation_type: str | None = None
    cancellation_initiator: str | None = None
    cancelled_after_ship: bool | None = None
    affect_cancellation_rating: bool | None = None


class NextTariff(msgspec.Struct, gc=False):
    """The one field of `tariffication` a sync reads (the rest stays unread in the Posting):
    when the next tariff step starts."""

    next_tariff_starts_at: str | None = None


class ProductV4(msgspec.Struct, gc=False):
    """v4 lists: `price` is `{amount, currency}`, or a decimal string with `currency_code`
    beside it (as in get, seen in list pages too)."""

    sku: int | None = None
    offer_id: str | None = None
    name: str | None = None
    quantity: int | None = None
    price: Money | str | int | float | None = None
    currency_code: str | None = None


class ProductV3(msgspec.Struct, gc=False):
    """v3 get: `price` is a decimal string with `currency_code` beside it (an object tolerated)."""

    sku: int | None = None
    offer_id: str | None = None
    name: str | None = None
    quantity: int | None = None
    price: str | int | float | Money | None = None
    currency_code: str | None = None


class PostingCommon(msgspec.Struct, gc=False):
    posting_number: str | None = None
    status: str | None = None
    shipment_date: str | None = None
    order_number: str | None = None
    order_id: int | None = None
    substatus: str | None = None
    shipment_date_without_delay: str | None = None
    in_process_at: str | None = None
    delivering_date: str | None = None
    delivery_method: DeliveryMethod | None = None
    tpl_integration_type: str | None = None
    available_actions: list[str] | None = None
    cancellation: Cancellation | None = None
    # Kept as Ozon's JSON, unread: only `next_tariff_starts_at` of `tariffication` (an object
    # in v4 and get, an array in the 2025 v3 list schema) is read for every posting; the rest is
    # read on demand (`daemon.tariff`). `requirements` is read only when one of its lists is not
    # empty. (msgspec cannot put Raw in a union: an absent field is the JSON text "null".)
    tariffication: msgspec.Raw = msgspec.Raw(b"null")
    tariffication_steps: msgspec.Raw = msgspec.Raw(b"null")
    requirements: msgspec.Raw = msgspec.Raw(b"null")
    parent_posting_number: str | None = None


class PostingV4(PostingCommon, gc=False):
    """A posting of `/v4/posting/fbs/unfulfilled/list` and `/v4/posting/fbs/list`."""

    products: list[ProductV4] | None = None


class PostingV3(PostingCommon, gc=False):
    """The posting of `/v3/posting/fbs/get`."""

    products: list[ProductV3] | None = None


class ListBody(msgspec.Struct):
    postings: list[PostingV4] | None = None
    cursor: str | None = None
    has_next: bool | None = None
    count: int | None = None


class ListEnvelope(ListBody):
    """Both shapes: documented top level, and `{"result": {...}}` seen live."""

    result: ListBody | None = None


class RawListBody(msgspec.Struct):
    postings: list[msgspec.Raw] | None = None
    cursor: str | None = None
    has_next: bool | None = None
    count: int | None = None


class RawListEnvelope(RawListBody):
    result: RawListBody | None = None


class NumberOnly(msgspec.Struct):
    posting_number: Any = None


class GetEnvelope(msgspec.Struct):
    result: PostingV3 | None = None


class RawGetEnvelope(msgspec.Struct):
    # msgspec cannot put Raw in a union: a missing result stays the JSON text "null".
    result: msgspec.Raw = msgspec.Raw(b"null")


class Reason(msgspec.Struct):
    id: int | None = None
    title: str | None = None
    type_id: str | None = None
    is_available_for_cancellation: bool | None = None


class PostingReasons(msgspec.Struct):
    posting_number: str | None = None
    reasons: list[Reason] | None = None


class PostingReasonsEnvelope(msgspec.Struct):
    result: list[PostingReasons] | None = None


class ReasonListEnvelope(msgspec.Struct):
    result: list[Reason] | None = None


class BoolResult(msgspec.Struct):
    result: bool | None = None


class Role(msgspec.Struct):
    name: str | None = None


class Roles(msgspec.Struct):
    roles: list[Role | str] | None = None
    expires_at: str | None = None


class RatingChange(msgspec.Struct):
    direction: str | None = None
    meaning: str | None = None


class RatingItem(msgspec.Struct):
    rating: str | None = None
    name: str | None = None
    current_value: float | None = None
    past_value: float | None = None
    rating_direction: str | None = None
    status: str | None = None
    value_type: str | None = None
    change: RatingChange | None = None


class RatingGroup(msgspec.Struct):
    group_name: str | None = None
    items: list[RatingItem] | None = None


class RatingSummary(msgspec.Struct):
    """`/v1/rating/summary` (`v1RatingSummaryV1Response`, seller document 2025-09)."""

    groups: list[RatingGroup] | None = None
    penalty_score_exceeded: bool | None = None


class IndexDefect(msgspec.Struct):
    date: str | None = None
    index_by_date: float | None = None
    processing_costs_sum_by_date: float | None = None


class ErrorIndex(msgspec.Struct):
    """`/v1/rating/index/fbs/info`: dates are `YYYY-MM-DD` text here."""

    index: float | None = None
    period_from: str | None = None
    period_to: str | None = None
    processing_costs_sum: float | None = None
    currency_code: str | None = None
    defects: list[IndexDefect] | None = None


class ErrorStatus(msgspec.Struct):
    """An error body: `rpcStatus` `{code: int, message, details}`, or the older
    `{"error": {"code": "ACCESS_DENIED", "message": ..., "data": [...]}}` (code a name)."""

    code: int | str | None = None
    message: str | None = None
    error: LegacyError | None = None


class LegacyError(msgspec.Struct):
    code: int | str | None = None
    message: str | None = None


_DECODERS: dict[type[Any], tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]] = {}


def decode(data: bytes, wire: type[Any]) -> Any:
    """Decode with a cached lenient decoder; NotJSON for malformed JSON, ValidationError passes.

    A strict decoder is tried first: it is faster, and where it succeeds the lenient one gives
    the same values (it only accepts more, e.g. ids as strings); where it fails, the lenient
    one decides, as if it had been the only one.
    """
    decoders = _DECODERS.get(wire)
    if decoders is None:
        decoders = _DECODERS[wire] = (
            msgspec.json.Decoder(wire),
            msgspec.json.Decoder(wire, strict=False),
        )
    strict, lenient = decoders
    try:
        return strict.decode(data)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as err:
        raise NotJSON(f"the body is not JSON ({err})") from None
    except RecursionError:  # hostile nesting (thousands of levels) anywhere in the body
        raise NotJSON(_TOO_DEEP) from None
    try:
        return lenient.decode(data)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as err:
        raise NotJSON(f"the body is not JSON ({err})") from None
    except RecursionError:
        raise NotJSON(_TOO_DEEP) from None


_TOO_DEEP = "the body's JSON is nested too deeply to read"


def split_validation(err: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's "Expected `str`, got `int` - at `$.a[0].b`" -> ("a[0].b", "Expected ...")."""
    text = str(err)
    what, found, where = text.rpartition(" - at `$")
    if not found:
        return "", text
    return where.rstrip("`").removeprefix("."), what
