"""Value types shared by the whole daemon: what a posting is, as the daemon sees it (its
shipping-speed tariff and missing data included), and what Ozon says about the seller's ratings.

These are frozen msgspec Structs: cheap to build, compare and hash. Posting, Product and
Cancellation are also left out of the garbage collector (`gc=False`): they are immutable trees
that can never be part of a reference cycle, and a sync makes one of each per posting, which
would otherwise trigger a collection every few pages. The wire shapes of the Ozon
API (which differ between methods) live in `daemon.ozon.parse`; it turns them into the types here.
The shipping-speed tariff's types and their on-demand reading are in `daemon.tariff` (re-exported
here).

This module imports only the standard library, msgspec and `daemon.tariff`; everything else may
import it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NamedTuple

import msgspec

from daemon.tariff import NULL, Money, Tariff, TariffStep, read_tariff, read_tariff_steps

__all__ = [
    "NO_DEADLINE",
    "REASON_NEEDING_MESSAGE",
    "AccessDenied",
    "AccountRatings",
    "CancelReason",
    "Cancellation",
    "ErrorIndex",
    "ErrorIndexDay",
    "KeyInfo",
    "LedgerKey",
    "Money",
    "Posting",
    "PostingCancelReasons",
    "Product",
    "Rating",
    "RatingSummary",
    "Requirement",
    "Tariff",
    "TariffStep",
    "cancel_message_problem",
    "read_tariff",
    "read_tariff_steps",
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


class Requirement(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Data Ozon needs before the posting can be assembled: a `requirements.*` list by its
    Ozon name (`products_requiring_gtd`, `products_requiring_country`,
    `products_requiring_mandatory_mark`, ...) and the SKUs it names, sorted."""

    name: str
    skus: tuple[int, ...] = ()


class Posting(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One FBS/rFBS posting: everything the daemon needs to watch its deadline and act on it.

    All datetimes are timezone-aware UTC. `shipment_date` is the deadline by which the posting
    must be assembled and handed over, or NO_DEADLINE when Ozon gives none (check
    `has_deadline` before computing with it). Enum-like strings (`status`, `substatus`,
    `available_actions`) are kept exactly as Ozon sent them, unknown values included.
    `requirements` names the non-empty `requirements.*` lists (data still missing before the
    posting can be assembled, e.g. `products_requiring_mandatory_mark`); `requirement_skus`
    has the same lists with their SKUs, in the same order. `next_tariff_starts_at` is when the
    shipping-speed tariff steps up next (None: no further step). `tariffication` and
    `tariffication_steps` are Ozon's JSON of the tariff in force when read and of its whole
    timeline, kept unread: only an alert or the advice needs them, so they are read on demand
    (`tariff`, `tariff_steps`), not for every posting of every sync (and the state cache keeps
    them only for a posting past its deadline).
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
    requirement_skus: tuple[Requirement, ...] = ()
    tariffication: msgspec.Raw = NULL
    tariffication_steps: msgspec.Raw = NULL

    @property
    def has_deadline(self) -> bool:
        """False when Ozon gives the posting no shipment deadline (`shipment_date` is
        NO_DEADLINE): nothing is ever due for it."""
        return self.shipment_date != NO_DEADLINE

    @property
    def can_cancel(self) -> bool:
        """True when Ozon lists `cancel` among the posting's available actions."""
        return "cancel" in self.available_actions

    @property
    def tariff(self) -> Tariff | None:
        """The shipping-speed tariff in force when the posting was read, read from
        `tariffication` now (None when Ozon sent none or it cannot be read)."""
        return read_tariff(self.tariffication)

    @property
    def tariff_steps(self) -> tuple[TariffStep, ...]:
        """The tariff's whole timeline, oldest step first, read from `tariffication_steps`
        now (empty when Ozon sent none or a step cannot be read)."""
        return read_tariff_steps(self.tariffication_steps)

    def tariff_step_at(self, moment: datetime) -> TariffStep | None:
        """The step of `tariff_steps` in force at `moment` (the first one not ended by then;
        a step's `ends_at` is its last instant), or None when the posting has no steps or
        `moment` is after the last one that ends."""
        for step in read_tariff_steps(self.tariffication_steps):
            if step.ends_at is None or moment <= step.ends_at:
                return step
        return None


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


# --------------------------------------------------------------------------- seller ratings


class AccessDenied(msgspec.Struct, frozen=True, kw_only=True):
    """Ozon answered 403 for a method the key has no role for (an expected outcome for the
    rating methods, not an error): the method's path and Ozon's own code and message."""

    path: str
    code: int | str | None = None  # a number, or a name in older error bodies ("ACCESS_DENIED")
    message: str = ""


class Rating(msgspec.Struct, frozen=True, kw_only=True):
    """One seller rating of `/v1/rating/summary` (`groups[].items[]`).

    `rating` is Ozon's system name (`rating_order_cancellation`, `rating_shipment_delay`, ...),
    `name` its title; `value` / `past_value` its current and previous values (`value_type`:
    PERCENT, INDEX, TIME...); `status` OK / WARNING / CRITICAL (UNKNOWN_STATUS or "" when
    Ozon does not say); `direction` HIGHER_IS_BETTER / LOWER_IS_BETTER / NEUTRAL;
    `change_direction` DIRECTION_RISE / _FALL / _NONE and `change_meaning` MEANING_GOOD / _BAD
    / _NONE. Enum values are kept as sent, unknown ones included.
    """

    rating: str
    name: str = ""
    group: str = ""
    value: float | None = None
    past_value: float | None = None
    status: str = ""
    direction: str = ""
    value_type: str = ""
    change_direction: str = ""
    change_meaning: str = ""


class RatingSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What `/v1/rating/summary` says: every rating, and the two ship-or-cancel ones by name."""

    ratings: tuple[Rating, ...] = ()
    penalty_score_exceeded: bool = False

    def get(self, rating: str) -> Rating | None:
        """The rating with Ozon's system name `rating`, or None when Ozon sent none."""
        return next((item for item in self.ratings if item.rating == rating), None)

    @property
    def cancellation(self) -> Rating | None:
        """`rating_order_cancellation`: FBS postings cancelled by the seller's fault, 7 days."""
        return self.get("rating_order_cancellation")

    @property
    def shipment_delay(self) -> Rating | None:
        """`rating_shipment_delay`: FBS postings not handed over in time, 7 days."""
        return self.get("rating_shipment_delay")


class ErrorIndexDay(msgspec.Struct, frozen=True, kw_only=True):
    """One day of the FBS error index (`defects[]`): the index and the fees of that day."""

    day: date
    index: float = 0.0
    processing_costs_sum: float = 0.0


class ErrorIndex(msgspec.Struct, frozen=True, kw_only=True):
    """The FBS/rFBS error index of `/v1/rating/index/fbs/info` over Ozon's window.

    `index` is the value exactly as Ozon sent it: whether it is a fraction (0.05) or a percent
    (5.0) is not documented (see `daemon.advice.index_percent`). `processing_costs_sum` is the
    error-processing fees of the window in `currency`. `days` are the per-day values.
    """

    index: float
    period_from: date | None = None
    period_to: date | None = None
    processing_costs_sum: float = 0.0
    currency: str = ""
    days: tuple[ErrorIndexDay, ...] = ()


class AccountRatings(msgspec.Struct, frozen=True, kw_only=True):
    """What was last read of one account's ratings (`/v1/rating/summary`) and FBS error index
    (`/v1/rating/index/fbs/info`): each as read, AccessDenied when Ozon answered 403 (the key
    lacks the role), None when not read yet; `read_at` when the newer one was read."""

    summary: RatingSummary | AccessDenied | None = None
    index: ErrorIndex | AccessDenied | None = None
    read_at: datetime | None = None
