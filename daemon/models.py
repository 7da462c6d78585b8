"""Value types shared by the whole daemon: what a posting is, as the daemon sees it.

These are frozen msgspec Structs: cheap to build, compare and hash. Posting, Product and
Cancellation are also left out of the garbage collector (`gc=False`): they are immutable trees
that can never be part of a reference cycle, and a sync makes one of each per posting, which
would otherwise trigger a collection every few pages. The wire shapes of the Ozon
API (which differ between methods) live in `daemon.ozon.parse`; it turns them into the types here.

This module imports only the standard library and msgspec; everything else may import it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

import msgspec

__all__ = [
    "NO_DEADLINE",
    "REASON_NEEDING_MESSAGE",
    "CancelReason",
    "Cancellation",
    "KeyInfo",
    "LedgerKey",
    "Posting",
    "PostingCancelReasons",
    "Product",
    "cancel_message_problem",
]

# Ozon refuses a cancel with this reason ("other") and an empty message (API-FACTS).
REASON_NEEDING_MESSAGE = 402


class LedgerKey(NamedTuple):
    """One entry of the alert ledger: an event about a posting at a step. The ledger records
    each key once and only a key not recorded yet may alert. `posting_number` is "" for an
    account-wide event (api_error, digest...); the step formats are in `daemon.policy_keys`.
    A LedgerKey equals and hashes as its plain (posting_number, event, step) tuple."""

    posting_number: str
    event: str
    step: str = ""


NO_DEADLINE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
"""The `shipment_date` of a posting without a deadline: Ozon's own marker for "none"
(`9999-12-31T23:59:59Z`). Any far-future date is read as this (see `daemon.ozon.parse`); such a
posting is watched and shown, but never reminded, overdue or cancelled. Never do arithmetic
with it (`Posting.has_deadline` first): it is the last second a datetime can hold."""


class Product(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One product line of a posting. `price` is Ozon's decimal text (e.g. "590" or
    "1390.000000") and `currency` its currency code as Ozon sent it (RUB, CNY...; "" if none)."""

    sku: int
    offer_id: str = ""
    name: str = ""
    quantity: int = 0
    price: str = ""
    currency: str = ""


class Cancellation(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Why and by whom a posting was cancelled, as Ozon reports it.

    `cancellation_type` is Ozon's open enum (`seller`, `client`, `customer`, `ozon`, `system`,
    `delivery`, or something new); `initiator` is Ozon's localized text (Продавец, Клиент...).
    """

    reason_id: int = 0
    reason: str = ""
    cancellation_type: str = ""
    initiator: str = ""
    cancelled_after_ship: bool = False
    affect_cancellation_rating: bool = False


class Posting(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One FBS/rFBS posting: everything the daemon needs to watch its deadline and act on it.

    All datetimes are timezone-aware UTC. `shipment_date` is the deadline by which the posting
    must be assembled and handed over, or NO_DEADLINE when Ozon gives none (check
    `has_deadline` before computing with it). Enum-like strings (`status`, `substatus`,
    `available_actions`) are kept exactly as Ozon sent them, unknown values included.
    `requirements` names the non-empty `requirements.*` lists (data still missing before the
    posting can be assembled, e.g. `products_requiring_mandatory_mark`).
    """

    posting_number: str
    status: str
    shipment_date: datetime
    order_number: str = ""
    order_id: int | None = None
    substatus: str = ""
    shipment_date_without_delay: datetime | None = None
    in_process_at: datetime | None = None
    delivering_date: datetime | None = None
    warehouse_id: int | None = None
    warehouse_name: str = ""
    delivery_method_id: int | None = None
    delivery_method_name: str = ""
    tpl_integration_type: str = ""
    available_actions: tuple[str, ...] = ()
    products: tuple[Product, ...] = ()
    cancellation: Cancellation | None = None
    next_tariff_starts_at: datetime | None = None
    requirements: tuple[str, ...] = ()
    parent_posting_number: str = ""

    @property
    def has_deadline(self) -> bool:
        """False when Ozon gives the posting no shipment deadline (`shipment_date` is
        NO_DEADLINE): nothing is ever due for it."""
        return self.shipment_date != NO_DEADLINE

    @property
    def can_cancel(self) -> bool:
        """True when Ozon lists `cancel` among the posting's available actions."""
        return "cancel" in self.available_actions


class CancelReason(msgspec.Struct, frozen=True, kw_only=True):
    """A cancel reason from `/v2/posting/fbs/cancel-reason/list` or the per-posting list.

    `available_for_cancellation` is None where Ozon does not say (the per-posting list).
    """

    id: int
    title: str = ""
    type_id: str = ""
    available_for_cancellation: bool | None = None


class PostingCancelReasons(msgspec.Struct, frozen=True, kw_only=True):
    """The reasons Ozon allows for cancelling one posting (`/v1/posting/fbs/cancel-reason`)."""

    posting_number: str
    reasons: tuple[CancelReason, ...] = ()

    def allows(self, reason_id: int) -> bool:
        """True when `reason_id` is one of the reasons allowed for this posting."""
        return any(reason.id == reason_id for reason in self.reasons)


def cancel_message_problem(reason_id: int, message: str) -> str | None:
    """Why Ozon would refuse cancel reason `reason_id` with `message`, or None: the one place
    of that rule, for the config check, the policy's rules and the Ozon client."""
    if reason_id == REASON_NEEDING_MESSAGE and not message.strip():
        return f"must not be empty when reason_id is {REASON_NEEDING_MESSAGE}"
    return None


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What `/v1/roles` tells about an API key: its role names and when it expires (if known)."""

    roles: tuple[str, ...] = ()
    expires_at: datetime | None = None
