"""The sandbox's own record of a posting: mutable, indexed by the store, serialized by `wire`.

These are not the daemon's `daemon.models` types (those are what a client reads); they hold what
the simulated Ozon keeps about a posting, with times as microseconds since the epoch.

This module imports only the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CANCEL_REASONS",
    "UNFULFILLED_STATUSES",
    "Route",
    "SimCancellation",
    "SimPosting",
    "SimProduct",
]

# Statuses `/v4/posting/fbs/unfulfilled/list` knows (its `filter.statuses` enum).
UNFULFILLED_STATUSES = frozenset(
    {
        "acceptance_in_progress",
        "awaiting_approve",
        "awaiting_packaging",
        "awaiting_registration",
        "awaiting_deliver",
        "arbitration",
        "client_arbitration",
        "delivering",
        "driver_pickup",
        "not_accepted",
    }
)

# id -> (title, type_id, is_available_for_cancellation), as in fixtures/v2_cancel_reason_list,
# plus 501, the reason the sandbox gives when a buyer cancels.
CANCEL_REASONS: dict[int, tuple[str, str, bool]] = {
    352: ("Товар закончился на складе продавца", "seller", True),
    400: ("Остался только бракованный товар", "seller", True),
    401: ("Продавец отклонил арбитраж", "seller", False),
    402: ("Другое (вина продавца)", "seller", True),
    501: ("Покупатель отменил заказ", "buyer", False),
    665: ("Покупатель не забрал заказ", "buyer", False),
    666: ("Возврат из службы доставки: нет доставки в указанный регион", "seller", False),
    667: ("Заказ утерян службой доставки", "seller", False),
}


@dataclass(frozen=True, slots=True)
class Route:
    """A delivery method with its warehouse and carrier (Ozon's `delivery_method` block)."""

    id: int
    name: str
    warehouse_id: int
    warehouse: str
    tpl_provider_id: int
    tpl_provider: str
    tpl_integration_type: str = "ozon"
    is_express: bool = False


@dataclass(frozen=True, slots=True)
class SimProduct:
    """One product line. `price` is Ozon's decimal text without a fraction (e.g. "590")."""

    sku: int
    offer_id: str
    name: str
    quantity: int
    price: str
    weight: float
    color: str = ""
    dimensions: tuple[str, str, str, str] = ("100.00", "100.00", "100", "100.00")


@dataclass(frozen=True, slots=True)
class SimCancellation:
    """Why a posting was cancelled: the `cancellation` block of a cancelled posting."""

    reason_id: int
    reason: str
    cancellation_type: str
    initiator: str
    affect_rating: bool = False
    after_ship: bool = False


@dataclass(slots=True, eq=False)
class SimPosting:
    """Everything the simulated Ozon keeps about one posting.

    Times are microseconds since the epoch (UTC). `id` is Ozon's internal id (the last keyset
    field of a cursor). `reasons` are the cancel reason ids allowed while `cancel` is available.
    `mandatory_mark_skus` and `needs` (pairs of a `requirements.*` list name and a SKU) are the
    data Ozon still wants before assembly; both are cleared once the posting is assembled.
    `cache` holds serialized JSON per shape, flags and tariff step; the store empties it on
    every change.
    """

    id: int
    posting_number: str
    order_id: int
    status: str
    substatus: str
    route: Route
    products: tuple[SimProduct, ...]
    in_process_at: int
    shipment_date: int
    last_changed: int
    available_actions: tuple[str, ...] = ()
    reasons: tuple[int, ...] = ()
    previous_substatus: str = ""
    delay_us: int = 11 * 3600 * 1_000_000
    delivering_date: int | None = None
    cancellation: SimCancellation | None = None
    parent_posting_number: str = ""
    related: tuple[str, ...] = ()
    mandatory_mark_skus: tuple[int, ...] = ()
    needs: tuple[tuple[str, int], ...] = ()
    delivery_type: str = "PVZ"
    payment: str = "Bank card"
    premium: bool = False
    cache: dict[tuple[str, int, int], bytes] = field(default_factory=dict)

    @property
    def order_number(self) -> str:
        """The order number: the posting number without its last segment."""
        return self.posting_number.rsplit("-", 1)[0]

    @property
    def can_cancel(self) -> bool:
        """True while `cancel` is among the posting's available actions."""
        return "cancel" in self.available_actions
