"""JSON shapes of the simulated Ozon API: postings (v4 list and v3 get), reasons, errors.

Every shape follows the official OpenAPI documents and the fixtures in tests/data/ozon/:
the v4 list posting has `price {amount, currency}` and money objects in `tariffication`; the v3
get posting has string `price` + `currency_code`, an object `prr_option` and string charges.
Date-times are put in as datetime objects: msgspec writes them as RFC 3339 with `Z` several
times faster than formatting text in Python. Opt-in blocks (`analytics_data`, `barcodes`,
`financial_data`, `legal_info`, and for get `related_postings`) are `null` unless the request's
`with` flag asks for them.

This module imports only the standard library, msgspec and the sandbox's model, clock and blocks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from daemon.sandbox import blocks
from daemon.sandbox.clock import US_PER_S, from_us
from daemon.sandbox.model import CANCEL_REASONS, SimPosting

__all__ = [
    "ANALYTICS",
    "BARCODES",
    "FINANCIAL",
    "LEGAL",
    "RELATED",
    "TARIFF_STEPS",
    "cancel_reason_list",
    "encode",
    "error_body",
    "posting_get",
    "posting_reasons",
    "posting_v4",
    "step_index",
]

ANALYTICS, BARCODES, FINANCIAL, LEGAL, RELATED = 1, 2, 4, 8, 16
_STEP_US = 12 * 3600 * US_PER_S
# Ozon's "no further step" marker: the last step's deadline, and `next_tariff_starts_at` in it.
_SENTINEL = "9999-12-31T23:59:59.999999900Z"
# The shipping-speed tariff timeline, as in the official v4 example: (type, rate %, minimum
# charge in RUB or None, the step's deadline in 12-hour steps from shipment_date; None = never).
# Shipping a day early earns 3 %, on the day 2 %; late costs 1 %, 2 %, then 3 %, at least
# 50 / 100 / 150 RUB.
TARIFF_STEPS: tuple[tuple[str, int, int | None, int | None], ...] = (
    ("discount", 3, None, -1),
    ("discount", 2, None, 0),
    ("commission", 1, 50, 1),
    ("commission", 2, 100, 2),
    ("commission", 3, 150, None),
)
_REQUIREMENT_KEYS = (
    "products_requiring_gtd",
    "products_requiring_country",
    "products_requiring_mandatory_mark",
    "products_requiring_rnpt",
    "products_requiring_jw_uin",
    "products_requiring_change_country",
    "products_requiring_imei",
    "products_requiring_weight",
)
_encode = msgspec.json.Encoder().encode


def error_body(code: int, message: str, *, details: bool = True) -> bytes:
    """Return Ozon's `rpcStatus` error body; `details=False` leaves `details` out (as 429 does)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = []
    return _encode(body)


def encode(value: Any) -> bytes:
    """Serialize a JSON-able value to compact UTF-8 bytes."""
    return _encode(value)


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "RUB"}


def _requirements(posting: SimPosting) -> dict[str, list[str]]:
    reqs: dict[str, list[str]] = {key: [] for key in _REQUIREMENT_KEYS}
    reqs["products_requiring_mandatory_mark"] = [str(sku) for sku in posting.mandatory_mark_skus]
    for key, sku in posting.needs:
        reqs.setdefault(key, []).append(str(sku))
    return reqs


def _cancellation(posting: SimPosting) -> dict[str, Any]:
    c = posting.cancellation
    if c is None:
        return {
            "cancel_reason_id": 0,
            "cancel_reason": "",
            "cancellation_type": "",
            "cancelled_after_ship": False,
            "affect_cancellation_rating": False,
            "cancellation_initiator": "",
        }
    return {
        "cancel_reason_id": c.reason_id,
        "cancel_reason": c.reason,
        "cancellation_type": c.cancellation_type,
        "cancelled_after_ship": c.after_ship,
        "affect_cancellation_rating": c.affect_rating,
        "cancellation_initiator": c.initiator,
    }


def _is_open(posting: SimPosting) -> bool:
    return posting.status not in ("cancelled", "delivered", "cancelled_from_split_pending")


def step_index(posting: SimPosting, now_us: int) -> int:
    """The index in `TARIFF_STEPS` of the shipping-speed tariff step in force at `now_us`
    (a step applies up to and including its deadline), or -1 for a finished posting."""
    if not _is_open(posting):
        return -1
    ship = posting.shipment_date
    for index, (_, _, _, ends) in enumerate(TARIFF_STEPS):
        if ends is None or now_us <= ship + ends * _STEP_US:
            return index
    return len(TARIFF_STEPS) - 1  # not reached: the last step never ends


def _amount(value: Decimal) -> str:
    """Money as Ozon writes it: "50", "45.9", "164.7" (at most two decimals, no trailing 0)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _charges(posting: SimPosting) -> list[tuple[str, str | None]]:
    """Per step: (charge, minimum charge or None). Ozon's rule as its examples show it: the
    charge is the rate times the product price, but at least the step's minimum."""
    price = sum((Decimal(p.price) * p.quantity for p in posting.products), Decimal(0))
    out: list[tuple[str, str | None]] = []
    for _, rate, minimum, _ in TARIFF_STEPS:
        charge = price * rate / 100
        if minimum is not None:
            charge = max(charge, Decimal(minimum))
        out.append((_amount(charge), None if minimum is None else str(minimum)))
    return out


def _deadline(posting: SimPosting, ends: int | None) -> Any:
    return _SENTINEL if ends is None else from_us(posting.shipment_date + ends * _STEP_US)


def _steps(posting: SimPosting) -> list[dict[str, Any]]:
    """The shipping-speed tariff timeline of an open posting (none for a finished one)."""
    if not _is_open(posting):
        return []
    return [
        {
            "min_charge": None if minimum is None else _money(minimum),
            "tariff_charge": _money(charge),
            "tariff_deadline_at": _deadline(posting, ends),
            "tariff_rate": rate,
            "tariff_type": kind,
        }
        for (kind, rate, _, ends), (charge, minimum) in zip(
            TARIFF_STEPS, _charges(posting), strict=True
        )
    ]


def _next_start(posting: SimPosting, index: int) -> Any:
    """When the step after `index` starts: one second after its deadline, as in Ozon's
    examples; the 9999-12-31 marker in the last step (there is no next one)."""
    ends = TARIFF_STEPS[index][3]
    return (
        _SENTINEL if ends is None else from_us(posting.shipment_date + ends * _STEP_US + US_PER_S)
    )


def _tariff_v4(posting: SimPosting, now_us: int) -> dict[str, Any]:
    index = step_index(posting, now_us)
    if index < 0:
        return {
            "current_tariff_rate": 0,
            "current_tariff_type": "",
            "current_tariff_charge": None,
            "current_tariff_min_charge": None,
            "next_tariff_rate": 0,
            "next_tariff_type": "",
            "next_tariff_charge": None,
            "next_tariff_min_charge": None,
            "next_tariff_starts_at": None,
        }
    charges = _charges(posting)
    kind, rate, _, _ = TARIFF_STEPS[index]
    charge, minimum = charges[index]
    body: dict[str, Any] = {
        "current_tariff_rate": rate,
        "current_tariff_type": kind,
        "current_tariff_charge": _money(charge),
        "current_tariff_min_charge": None if minimum is None else _money(minimum),
        "next_tariff_rate": 0,
        "next_tariff_type": "",
        "next_tariff_charge": None,
        "next_tariff_min_charge": None,
        "next_tariff_starts_at": _next_start(posting, index),
    }
    if index + 1 < len(TARIFF_STEPS):
        next_kind, next_rate, _, _ = TARIFF_STEPS[index + 1]
        next_charge, next_minimum = charges[index + 1]
        body["next_tariff_rate"] = next_rate
        body["next_tariff_type"] = next_kind
        body["next_tariff_charge"] = _money(next_charge)
        body["next_tariff_min_charge"] = None if next_minimum is None else _money(next_minimum)
    return body


def _common(posting: SimPosting) -> dict[str, Any]:
    route = posting.route
    return {
        "posting_number": posting.posting_number,
        "order_id": posting.order_id,
        "order_number": posting.order_number,
        "status": posting.status,
        "substatus": posting.substatus,
        "delivery_method": {
            "id": route.id,
            "name": route.name,
            "warehouse_id": route.warehouse_id,
            "warehouse": route.warehouse,
            "tpl_provider_id": route.tpl_provider_id,
            "tpl_provider": route.tpl_provider,
        },
        "tracking_number": "",
        "tpl_integration_type": route.tpl_integration_type,
        "integration_type_flow": route.tpl_integration_type,
        "in_process_at": from_us(posting.in_process_at),
        "shipment_date": from_us(posting.shipment_date),
        "shipment_date_without_delay": from_us(posting.shipment_date + posting.delay_us),
        "delivering_date": (
            None if posting.delivering_date is None else from_us(posting.delivering_date)
        ),
        "cancellation": _cancellation(posting),
        "container": None,
        "container_sort_type": "sort",
        "customer": None,
        "addressee": None,
        "is_express": posting.route.is_express,
        "requirements": _requirements(posting),
        "parent_posting_number": posting.parent_posting_number,
        "available_actions": list(posting.available_actions),
        "multi_box_qty": 1,
        "is_multibox": False,
        "tariffication_steps": _steps(posting),
        "destination_place_id": 0,
        "destination_place_name": "",
        "is_presortable": False,
        "pickup_code_verified_at": None,
        "optional": {"products_with_possible_mandatory_mark": list(posting.mandatory_mark_skus)},
        "sorting_center": None,
        "require_blr_traceable_attrs": False,
        "is_click_and_collect": False,
    }


def posting_v4(posting: SimPosting, flags: int, now_us: int) -> bytes:
    """Serialize `posting` in the v4 list shape at sandbox time `now_us` (the tariff in force
    then); `flags` is a mask of ANALYTICS, BARCODES, ..."""
    body = _common(posting)
    body.update(
        {
            "delivery_schema": "fbs",
            "products": [
                {
                    "is_blr_traceable": False,
                    "is_marketplace_buyout": False,
                    "offer_id": p.offer_id,
                    "name": p.name,
                    "sku": p.sku,
                    "quantity": p.quantity,
                    "imei": [],
                    "weight": p.weight,
                    "product_color": p.color,
                    "price": _money(p.price),
                }
                for p in posting.products
            ],
            "barcodes": blocks.barcodes(posting) if flags & BARCODES else None,
            "analytics_data": blocks.analytics(posting) if flags & ANALYTICS else None,
            "financial_data": blocks.financial(posting) if flags & FINANCIAL else None,
            "legal_info": blocks.LEGAL if flags & LEGAL else None,
            "quantum_id": 0,
            "tariffication": _tariff_v4(posting, now_us),
            "external_order": {"is_external": False, "platform_name": ""},
            "volume_weight": 0,
            "prr_option": "",
        }
    )
    return _encode(body)


def _tariff_v3(posting: SimPosting, now_us: int) -> dict[str, Any]:
    """The get shape: charges as text with a currency code beside them, no minimum charges."""
    v4 = _tariff_v4(posting, now_us)
    current, following = v4["current_tariff_charge"], v4["next_tariff_charge"]
    return {
        "current_tariff_rate": v4["current_tariff_rate"],
        "current_tariff_type": v4["current_tariff_type"],
        "current_tariff_charge": current["amount"] if current else "",
        "current_tariff_charge_currency_code": "RUB",
        "next_tariff_rate": v4["next_tariff_rate"],
        "next_tariff_type": v4["next_tariff_type"],
        "next_tariff_charge": following["amount"] if following else "",
        "next_tariff_starts_at": v4["next_tariff_starts_at"],
        "next_tariff_charge_currency_code": "RUB",
    }


def posting_get(posting: SimPosting, flags: int, now_us: int) -> dict[str, Any]:
    """Build the `/v3/posting/fbs/get` posting (the value of `result`) at sandbox time `now_us`
    as a dict."""
    body = _common(posting)
    body.update(
        {
            "previous_substatus": posting.previous_substatus,
            "external_order": {"is_external": False, "platform_name": ""},
            "fact_delivery_date": None,
            "provider_status": "",
            "delivery_price": "",
            "products": [
                {
                    "price": f"{p.price}.0000",
                    "currency_code": "RUB",
                    "offer_id": p.offer_id,
                    "name": p.name,
                    "sku": p.sku,
                    "quantity": p.quantity,
                    "mandatory_mark": [],
                    "dimensions": dict(
                        zip(("height", "length", "weight", "width"), p.dimensions, strict=True)
                    ),
                    "is_blr_traceable": False,
                    "is_marketplace_buyout": False,
                    "has_imei": False,
                    "weight_max": p.weight,
                    "weight_min": 0,
                    "is_weight_needed": False,
                }
                for p in posting.products
            ],
            "barcodes": blocks.barcodes(posting) if flags & BARCODES else None,
            "analytics_data": blocks.analytics(posting) if flags & ANALYTICS else None,
            "financial_data": blocks.financial_v3(posting) if flags & FINANCIAL else None,
            "legal_info": blocks.LEGAL if flags & LEGAL else None,
            "additional_data": [],
            "product_exemplars": None,
            "courier": None,
            "related_postings": (
                {"related_posting_numbers": list(posting.related)} if flags & RELATED else None
            ),
            "related_weight_postings": [],
            "prr_option": {"code": "", "price": "", "currency_code": "RUB", "floor": ""},
            "tariffication": _tariff_v3(posting, now_us),
        }
    )
    return body


def posting_reasons(posting_number: str, reason_ids: tuple[int, ...]) -> dict[str, Any]:
    """One element of `/v1/posting/fbs/cancel-reason`'s `result`: a posting and its reasons."""
    return {
        "posting_number": posting_number,
        "reasons": [
            {"id": rid, "title": CANCEL_REASONS[rid][0], "type_id": CANCEL_REASONS[rid][1]}
            for rid in reason_ids
            if rid in CANCEL_REASONS
        ],
    }


def cancel_reason_list() -> bytes:
    """The `/v2/posting/fbs/cancel-reason/list` answer: every reason the sandbox knows."""
    return _encode(
        {
            "result": [
                {
                    "id": rid,
                    "title": title,
                    "type_id": type_id,
                    "is_available_for_cancellation": available,
                }
                for rid, (title, type_id, available) in CANCEL_REASONS.items()
            ]
        }
    )
