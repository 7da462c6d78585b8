"""The opt-in blocks of a posting: `analytics_data`, `barcodes`, `financial_data`, `legal_info`.

Ozon fills them only when the request's `with` flag asks; `wire` decides when, this module what
they hold. `financial_data` has two shapes: the v4 lists' (money objects, nested commission)
and the v3 get's (flat numbers with `*_currency_code` siblings).

This module imports only the standard library and the sandbox's clock and model.
"""

from __future__ import annotations

from typing import Any

from daemon.sandbox.clock import US_PER_S, from_us
from daemon.sandbox.model import SimPosting

__all__ = ["LEGAL", "analytics", "barcodes", "financial", "financial_v3"]

_HOUR = 3600 * US_PER_S


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "RUB"}


def analytics(posting: SimPosting) -> dict[str, Any]:
    """The `analytics_data` block: warehouse, carrier, delivery type and promised window."""
    route = posting.route
    begin = posting.shipment_date + 44 * _HOUR
    return {
        "region": "",
        "city": "",
        "delivery_type": posting.delivery_type,
        "is_premium": posting.premium,
        "payment_type_group_name": posting.payment,
        "warehouse_id": route.warehouse_id,
        "warehouse": route.warehouse,
        "tpl_provider_id": route.tpl_provider_id,
        "tpl_provider": route.tpl_provider,
        "delivery_date_begin": from_us(begin),
        "delivery_date_end": from_us(begin + 12 * _HOUR),
        "is_legal": False,
        "client_delivery_date_begin": None,
        "client_delivery_date_end": None,
    }


def barcodes(posting: SimPosting) -> dict[str, str]:
    """The `barcodes` block (stable per posting)."""
    return {
        "upper_barcode": f"%101%{posting.id % 1_000_000_000:09d}",
        "lower_barcode": f"{posting.order_id % 10**14:014d}",
    }


def financial(posting: SimPosting) -> dict[str, Any]:
    """The v4 lists' `financial_data` block (payout and commission 0 until delivery)."""
    return {
        "cluster_from": "Москва, МО и Дальние регионы",
        "cluster_to": "Москва, МО и Дальние регионы",
        "products": [
            {
                "actions": [],
                "commission": {"amount": 0, "percent": 0, "currency": "RUB"},
                "customer_price": _money(product.price),
                "old_price": float(product.price),
                "payout": 0,
                "price": float(product.price),
                "product_id": product.sku,
                "quantity": product.quantity,
                "total_discount_percent": 0,
                "total_discount_value": 0,
            }
            for product in posting.products
        ],
    }


def financial_v3(posting: SimPosting) -> dict[str, Any]:
    """The get method's `financial_data`: flat numbers with `*_currency_code` siblings."""
    return {
        "cluster_from": "Москва, МО и Дальние регионы",
        "cluster_to": "Москва, МО и Дальние регионы",
        "products": [
            {
                "actions": [],
                "currency_code": "RUB",
                "customer_currency_code": "RUB",
                "commission_amount": 0,
                "commission_percent": 0,
                "commissions_currency_code": "RUB",
                "old_price": float(product.price),
                "payout": 0,
                "price": float(product.price),
                "customer_price": float(product.price),
                "product_id": product.sku,
                "quantity": product.quantity,
                "total_discount_percent": 0,
                "total_discount_value": 0,
            }
            for product in posting.products
        ],
    }


LEGAL = {"company_name": "", "inn": "", "kpp": ""}
