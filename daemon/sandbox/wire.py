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
    "cancel_reason_list",
    "encode",
    "error_body",
    "posting_get",
    "posting_reasons",
    "posting_v4",
]

ANALYTICS, BARCODES, FINANCIAL, LEGAL, RELATED = 1, 2, 4, 8, 16
_HOUR = 3600 * US_PER_S
_SENTINEL = "9999-12-31T23:59:59.999999900Z"
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


def _steps(posting: SimPosting) -> list[dict[str, Any]]:
    """Shipping-speed tariff steps: free until shipment_date, then 12-hour commission steps."""
    if not _is_open(posting):
        return []
    ship = posting.shipment_date
    return [
        {
            "min_charge": None,
            "tariff_charge": _money("0"),
            "tariff_deadline_at": from_us(ship),
            "tariff_rate": 0,
            "tariff_type": "no_discount",
        },
        {
            "min_charge": _money("50"),
            "tariff_charge": _money("50"),
            "tariff_deadline_at": from_us(ship + 12 * _HOUR),
            "tariff_rate": 1,
            "tariff_type": "commission",
        },
        {
            "min_charge": _money("100"),
            "tariff_charge": _money("100"),
            "tariff_deadline_at": from_us(ship + 24 * _HOUR),
            "tariff_rate": 2,
            "tariff_type": "commission",
        },
        {
            "min_charge": _money("150"),
            "tariff_charge": _money("150"),
            "tariff_deadline_at": _SENTINEL,
            "tariff_rate": 3,
            "tariff_type": "commission",
        },
    ]


def _tariff_v4(posting: SimPosting) -> dict[str, Any]:
    if not _is_open(posting):
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
    return {
        "current_tariff_rate": 0,
        "current_tariff_type": "no_discount",
        "current_tariff_charge": _money("0"),
        "current_tariff_min_charge": None,
        "next_tariff_rate": 1,
        "next_tariff_type": "commission",
        "next_tariff_charge": _money("50"),
        "next_tariff_min_charge": _money("50"),
        "next_tariff_starts_at": from_us(posting.shipment_date + US_PER_S),
    }


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


def posting_v4(posting: SimPosting, flags: int) -> bytes:
    """Serialize `posting` in the v4 list shape; `flags` is a mask of ANALYTICS, BARCODES, ..."""
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
            "tariffication": _tariff_v4(posting),
            "external_order": {"is_external": False, "platform_name": ""},
            "volume_weight": 0,
            "prr_option": "",
        }
    )
    return _encode(body)


def _tariff_v3(posting: SimPosting) -> dict[str, Any]:
    open_ = _is_open(posting)
    return {
        "current_tariff_rate": 0,
        "current_tariff_type": "no_discount" if open_ else "",
        "current_tariff_charge": "",
        "current_tariff_charge_currency_code": "RUB",
        "next_tariff_rate": 1 if open_ else 0,
        "next_tariff_type": "commission" if open_ else "",
        "next_tariff_charge": "50" if open_ else "",
        "next_tariff_starts_at": (from_us(posting.shipment_date + US_PER_S) if open_ else None),
        "next_tariff_charge_currency_code": "RUB",
    }


def posting_get(posting: SimPosting, flags: int) -> dict[str, Any]:
    """Build the `/v3/posting/fbs/get` posting (the value of `result`) as a dict."""
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
            "tariffication": _tariff_v3(posting),
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
