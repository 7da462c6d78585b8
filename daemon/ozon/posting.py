"""One decoded wire posting -> `daemon.models.Posting`: the conversion every listed posting
goes through, so the hot path of a sync.

Strict where we rely: a posting without `posting_number`, `status` or `shipment_date`, with a
`posting_number` that cannot be a key (control characters, over 64 characters) or with a date
that is not RFC 3339 raises ParseError naming the field (`daemon.ozon.dates` reads the dates).

Only what every sync needs is read here: the tariff's `next_tariff_starts_at` (when a
`tariff_step` warning is due) and the `requirements` lists that are not empty. The rest of the
shipping-speed tariff (`tariffication`, `tariffication_steps`) stays Ozon's JSON in the Posting
and is read on demand by `daemon.tariff` (an alert or the advice needs it, a sync does not).

This module imports msgspec, the standard library, `daemon.models` and `daemon.ozon`'s wire
and dates modules.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from daemon.models import Cancellation, Posting, Product, Requirement
from daemon.ozon import wire
from daemon.ozon.dates import deadline, optional_date, step_start
from daemon.ozon.wire import ParseError

__all__ = ["MAX_NUMBER_LENGTH", "decode_one", "to_posting", "usable_number"]

MAX_NUMBER_LENGTH = 64  # Ozon's are like 87341265-0117-1; a key of the cache and the ledger
_NOT_IN_A_NUMBER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A JSON list with something in it: `requirements` is decoded only when this is found (nearly
# every posting sends every list empty).
_FILLED_LIST = re.compile(rb"\[\s*[^\]\s]").search
_read_next = msgspec.json.Decoder(wire.NextTariff | list[wire.NextTariff] | None).decode
_read_lists = msgspec.json.Decoder(dict[str, Any] | None).decode
_STARTS_AT = "tariffication.next_tariff_starts_at"
_NULL = msgspec.Raw(b"null")


def usable_number(number: str) -> bool:
    """True for text that can serve as a posting's key: no control or line-separator
    characters (SQLite's JSON functions cut a text at NUL) and at most MAX_NUMBER_LENGTH."""
    return len(number) <= MAX_NUMBER_LENGTH and not _NOT_IN_A_NUMBER.search(number)


def _text(value: str | None) -> str:
    return value if value is not None else ""


def to_posting(item: wire.PostingV4 | wire.PostingV3) -> Posting:
    """Convert a decoded wire posting; ParseError names the missing or unreadable field."""
    number = item.posting_number
    if not number:
        raise ParseError("the posting has no posting_number", field="posting_number")
    if not usable_number(number):
        raise ParseError(
            f"posting_number {number[:40]!r} is not a posting number", field="posting_number"
        )
    if not item.status:
        raise ParseError("missing status", field="status", posting_number=number)
    shipment_date = deadline(item.shipment_date, number)
    method = item.delivery_method
    requirements = _requirements(item.requirements, number)
    tariff, steps = item.tariffication, item.tariffication_steps
    return Posting(
        posting_number=number,
        status=item.status,
        shipment_date=shipment_date,
        order_number=_text(item.order_number),
        order_id=item.order_id,
        substatus=_text(item.substatus),
        shipment_date_without_delay=optional_date(
            item.shipment_date_without_delay, "shipment_date_without_delay", number
        ),
        in_process_at=optional_date(item.in_process_at, "in_process_at", number),
        delivering_date=optional_date(item.delivering_date, "delivering_date", number),
        warehouse_id=method.warehouse_id if method else None,
        warehouse_name=_text(method.warehouse) if method else "",
        delivery_method_id=method.id if method else None,
        delivery_method_name=_text(method.name) if method else "",
        tpl_integration_type=_text(item.tpl_integration_type),
        available_actions=tuple(item.available_actions) if item.available_actions else (),
        products=tuple([_to_product(product) for product in item.products or ()]),
        cancellation=_cancellation(item.cancellation),
        next_tariff_starts_at=_next_step(tariff, number),
        requirements=tuple([found.name for found in requirements]) if requirements else (),
        parent_posting_number=_text(item.parent_posting_number),
        requirement_skus=requirements,
        # copies: a Raw would otherwise keep the whole page's bytes alive with the posting
        tariffication=tariff.copy() if len(tariff) > 4 else _NULL,
        tariffication_steps=steps.copy() if len(steps) > 4 else _NULL,
    )


def _next_step(raw: msgspec.Raw, number: str) -> Any:
    """`tariffication.next_tariff_starts_at` (of the first item of an array): None when absent
    or Ozon's "no further step" marker; ParseError when it is not a date-time."""
    if len(raw) <= 4:  # null, {} or []
        return None
    try:
        found = _read_next(raw)
    except msgspec.ValidationError as err:
        field, message = wire.split_validation(err)
        where = "tariffication" + (f".{field}" if field and field[0] != "[" else field)
        raise ParseError(message, field=where, posting_number=number) from None
    if isinstance(found, list):
        found = found[0] if found else None
    return step_start(found.next_tariff_starts_at, _STARTS_AT, number) if found else None


def _requirements(raw: msgspec.Raw, number: str) -> tuple[Requirement, ...]:
    """The non-empty `requirements.*` lists (any name, so a list Ozon adds later counts too)
    with their SKUs sorted. SKUs come as numbers or int64 text; one that is neither is left
    out, but its list still counts (the posting still needs that data: never skip a posting
    over it). Decoded only when some list has something in it."""
    if not _FILLED_LIST(raw):
        return ()
    try:
        lists = _read_lists(raw) or {}
    except msgspec.ValidationError as err:
        raise ParseError(str(err), field="requirements", posting_number=number) from None
    found: list[Requirement] = []
    for name, skus in lists.items():
        if skus and isinstance(skus, list):
            found.append(Requirement(name, _skus(skus)))
    return tuple(found)


def _skus(values: list[Any]) -> tuple[int, ...]:
    readable: set[int] = set()
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            readable.add(value)
        elif isinstance(value, str) and value.isdigit():
            readable.add(int(value))
    return tuple(sorted(readable))


def _cancellation(cancelled: wire.Cancellation | None) -> Cancellation | None:
    """None unless Ozon reports a cancellation (a reason id, a reason or a type)."""
    if cancelled is None or not (
        cancelled.cancel_reason_id or cancelled.cancel_reason or cancelled.cancellation_type
    ):
        return None
    return Cancellation(
        reason_id=cancelled.cancel_reason_id or 0,
        reason=_text(cancelled.cancel_reason),
        cancellation_type=_text(cancelled.cancellation_type),
        initiator=_text(cancelled.cancellation_initiator),
        cancelled_after_ship=bool(cancelled.cancelled_after_ship),
        affect_cancellation_rating=bool(cancelled.affect_cancellation_rating),
    )


def _price(product: wire.ProductV4 | wire.ProductV3) -> tuple[str, str]:
    """(decimal text, currency) of a product, from whichever money shape Ozon sent."""
    price, currency = product.price, product.currency_code
    if isinstance(price, wire.Money):
        amount, currency = price.amount, price.currency or price.currency_code or currency
    else:
        amount = price
    if amount is None:
        return "", currency or ""
    return (amount if isinstance(amount, str) else repr(amount)), currency or ""


def _to_product(item: wire.ProductV4 | wire.ProductV3) -> Product:
    price, currency = _price(item)
    return Product(
        sku=item.sku or 0,
        offer_id=_text(item.offer_id),
        name=_text(item.name),
        quantity=item.quantity or 0,
        price=price,
        currency=currency,
    )


def _posting_number_of(raw: bytes) -> str:
    """Best effort: the posting number of a posting we could not decode, or ""."""
    try:
        value = msgspec.json.decode(raw, type=wire.NumberOnly).posting_number
    except (msgspec.DecodeError, RecursionError):
        return ""
    return value if isinstance(value, str) else ""


def decode_one(raw: bytes, shape: type[wire.PostingV4] | type[wire.PostingV3]) -> Posting:
    """Decode and convert one posting; ParseError names the field and the posting."""
    try:
        decoded = wire.decode(raw, shape)
    except msgspec.ValidationError as err:
        field, message = wire.split_validation(err)
        raise ParseError(message, field=field, posting_number=_posting_number_of(raw)) from None
    posting: Posting = to_posting(decoded)
    return posting
