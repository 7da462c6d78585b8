"""Ship or cancel? PURE advice for a late posting, from Ozon's own numbers.

`advise(posting, now, index, summary)` puts the facts side by side and gives one
recommendation with a one-line reason:

- **how late** the posting is (`now - shipment_date`);
- **what shipping costs**: the surcharge of the shipping-speed tariff step in force now
  (`tariffication_steps`, else `tariffication`; a `discount` or `no_discount` step costs
  nothing extra), and when the next step starts and what it costs. When the next step starts
  within `ship_within` (the time shipping takes, 2 h by default) shipping will cost that one;
- **what a seller cancellation adds**: the error index now (`/v1/rating/index/fbs/info`), its
  zone, and the fee of that zone on the posting's price, capped at `FEE_CAP_RUB` for prices in
  RUB as Ozon caps it (`charge_percent`, when known live from Ozon, replaces the zone's rate);
- **the ratings** `rating_shipment_delay` and `rating_order_cancellation` of
  `/v1/rating/summary` (status OK / WARNING / CRITICAL).

The rule, in order (the first that applies decides):

1. not late yet -> **ship**;
2. shipping costs nothing extra (surcharge 0, no costlier step within `ship_within`) -> **ship**;
3. no error index (none read yet, or the key lacks the rating role: 403) -> **decide**;
4. index in the red zone (a cancellation may get the account blocked) -> **ship**;
5. the surcharge or the fee unknown, or in different currencies -> **decide**;
6. surcharge <= fee (a cancellation costs at least as much, and loses the sale) -> **ship**;
7. surcharge > fee, the shipment-delay rating CRITICAL and the cancellation rating not
   CRITICAL -> **cancel**;
8. otherwise -> **decide** (a cancellation is cheaper in fees, but the sale may be worth more).

"cancel" never means the daemon cancels: `[policy.cancel]` decides that; with
`respect_advice` a posting advised "ship" is not cancelled (`holds_back_cancel`).

The fee band table is `FEE_BANDS`, the one place it is kept, with its source and date: Ozon
changes the bands over time (an older version had three), so update it there when Ozon does.

Whether Ozon's `index` is a fraction (0.05) or a percent (5.0) is not documented:
`index_percent` reads a value above 1 as a percent and one of at most 1 as a fraction.

This module imports only the standard library and `daemon.models`: no I/O, no clock, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from daemon.models import AccessDenied, ErrorIndex, Money, Posting, RatingSummary

__all__ = [
    "DEFAULT_SHIP_WITHIN",
    "FEE_BANDS",
    "FEE_BANDS_AS_OF",
    "FEE_BANDS_SOURCE",
    "FEE_CAP_RUB",
    "RULES",
    "Advice",
    "Facts",
    "FeeBand",
    "Recommendation",
    "advise",
    "cancel_fee",
    "fee_band",
    "holds_back_cancel",
    "index_percent",
]

Recommendation = Literal["ship", "cancel", "decide"]
RULES = (
    "not_late",  # 1. not late yet -> ship
    "free",  # 2. shipping costs nothing extra -> ship
    "no_index",  # 3. no error index read yet -> decide
    "no_role",  # 3. no error index: the key lacks the rating role (403) -> decide
    "red_zone",  # 4. red zone -> ship
    "unknown_cost",  # 5. surcharge or fee unknown -> decide
    "currencies",  # 5. in different currencies -> decide
    "cheaper_to_ship",  # 6. surcharge <= fee -> ship
    "delay_critical",  # 7. dearer, delay CRITICAL, cancellation not -> cancel
    "sale_worth",  # 8. otherwise -> decide
)
"""The names of the rule's steps (`Advice.rule`), in the order they are tried."""
DEFAULT_SHIP_WITHIN = timedelta(hours=2)


@dataclass(frozen=True)
class FeeBand:
    """One band of Ozon's fee for a seller-fault cancellation: up to `up_to` percent of the
    error index (inclusive), the zone's name, the fee in percent of the product price, and
    whether the account may be blocked."""

    up_to: float
    zone: str
    fee_percent: Decimal
    may_block: bool = False


# Ozon's fee per seller-fault cancellation by the error index on the day of the cancellation.
FEE_BANDS_SOURCE = (
    "Ozon help, 'Fines' (docs.ozon.com/global/en/commissions/ozon-fees/fines) and 'Cancellation"
    " percentage' (docs.ozon.com/global/en/ratings/cancellation-percentage)"
)
FEE_BANDS_AS_OF = date(2026, 12, 3)
FEE_BANDS: tuple[FeeBand, ...] = (
    FeeBand(4.0, "green", Decimal(0)),
    FeeBand(10.0, "blue", Decimal(3)),
    FeeBand(20.0, "yellow", Decimal(6)),
    FeeBand(40.0, "orange", Decimal(9)),
    FeeBand(100.0, "red", Decimal(9), may_block=True),
)
FEE_CAP_RUB = Decimal(1500)  # per order, converted by Ozon at the rate of the charge date


@dataclass(frozen=True)
class Facts:
    """What the advice was given, side by side (None: not known).

    `late` is how late the posting is (zero when it is not); `surcharge` what shipping costs
    extra now and `next_surcharge` from `next_step_at`; `ship_cost` the one the rule used: the
    next one when it starts within `ship_within` (`step_soon`). `index` is the error index in
    percent, `zone` its band, `fee` what a seller cancellation would add (`fee_capped`: the cap
    made it smaller). `delay_status` / `cancellation_status` are the ratings' statuses.
    `index_missing` / `summary_missing` say why Ozon's numbers are missing: "403" (the key
    lacks the rating role) or "none" (not read yet).
    """

    late: timedelta
    surcharge: Money | None = None
    next_step_at: datetime | None = None
    next_surcharge: Money | None = None
    step_soon: bool = False
    ship_cost: Money | None = None
    index: float | None = None
    zone: str | None = None
    fee: Money | None = None
    fee_capped: bool = False
    delay_status: str | None = None
    cancellation_status: str | None = None
    index_missing: str | None = None
    summary_missing: str | None = None


@dataclass(frozen=True)
class Advice:
    """The recommendation ("ship" | "cancel" | "decide"), the facts and a one-line reason;
    `rule` names the step of the rule that decided (`RULES`), for messages in other languages;
    `why` is the reason without how late the posting is (the same a moment later)."""

    recommendation: Recommendation
    facts: Facts
    reason: str
    rule: str = ""
    why: str = ""


def index_percent(value: float) -> float:
    """Ozon's error index in percent: a value above 1 is read as a percent, one of at most 1
    as a fraction (Ozon does not document which it sends; every published example is 0)."""
    return value if value > 1 else value * 100


def fee_band(percent: float) -> FeeBand:
    """The band of `FEE_BANDS` holding an error index of `percent` (the last one above 100)."""
    for band in FEE_BANDS:
        if percent <= band.up_to:
            return band
    return FEE_BANDS[-1]


def _decimal(money: Money | None) -> Decimal | None:
    if money is None:
        return None
    try:
        value = Decimal(money.amount)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _money(value: Decimal, currency: str) -> Money:
    return Money(f"{value.quantize(Decimal('0.01')):f}".rstrip("0").rstrip("."), currency)


def _price(posting: Posting) -> tuple[Decimal, str] | None:
    """The posting's product price (price x quantity, summed) and its currency, or None when a
    price is unreadable or the products are in different currencies."""
    total, currencies = Decimal(0), set()
    for product in posting.products:
        amount = _decimal(Money(product.price))
        if amount is None:
            return None
        total += amount * product.quantity
        currencies.add(product.currency)
    if len(currencies) != 1:
        return None
    return total, currencies.pop()


def cancel_fee(
    posting: Posting, percent: float, charge_percent: float | None = None
) -> tuple[Money, bool] | None:
    """What a seller cancellation of `posting` adds at an error index of `percent`: the fee of
    its band (or `charge_percent`, Ozon's live rate) on the product price, capped at
    `FEE_CAP_RUB` when the price is in RUB. Returns (fee, capped) or None without a price."""
    price = _price(posting)
    if price is None:
        return None
    amount, currency = price
    rate = fee_band(percent).fee_percent if charge_percent is None else Decimal(str(charge_percent))
    fee = amount * rate / 100
    capped = currency == "RUB" and fee > FEE_CAP_RUB
    return _money(min(fee, FEE_CAP_RUB) if capped else fee, currency), capped


def _cost(kind: str, charge: Money | None) -> Money | None:
    """The extra cost of shipping in a step: its charge for a `commission`, nothing for a
    `discount` or `no_discount`, unknown for a type Ozon may add later."""
    if kind == "commission":
        return charge
    if kind in ("discount", "no_discount"):
        return Money("0", charge.currency if charge else "")
    return None


def _tariff_now(
    posting: Posting, now: datetime
) -> tuple[Money | None, datetime | None, Money | None]:
    """(surcharge now, when the next step starts, its surcharge) from the steps, else from
    `tariffication` (whose next step may have started since it was read)."""
    steps = posting.tariff_steps
    for position, step in enumerate(steps):
        if step.ends_at is not None and now > step.ends_at:
            continue
        after = steps[position + 1] if position + 1 < len(steps) else None
        return (
            _cost(step.tariff_type, step.charge),
            step.ends_at,
            _cost(after.tariff_type, after.charge) if after else None,
        )
    tariff = posting.tariff
    if tariff is None:
        return None, None, None
    starts = tariff.next_starts_at
    if starts is not None and starts <= now:  # read before the next step began
        return _cost(tariff.next_type, tariff.next_charge), None, None
    following = _cost(tariff.next_type, tariff.next_charge) if starts is not None else None
    return _cost(tariff.current_type, tariff.current_charge), starts, following


def _missing(value: object) -> str | None:
    if isinstance(value, AccessDenied):
        return "403"
    return "none" if value is None else None


def _status(summary: RatingSummary | AccessDenied | None, rating: str) -> str | None:
    if not isinstance(summary, RatingSummary):
        return None
    item = summary.get(rating)
    return item.status or None if item is not None else None


def _text(money: Money | None) -> str:
    return "unknown" if money is None else f"{money.amount} {money.currency}".strip()


def _span(value: timedelta) -> str:
    """A duration by its two largest units: "2d 3h", "5h 07m", "45m"."""
    minutes = int(value.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def advise(
    posting: Posting,
    now: datetime,
    index: ErrorIndex | AccessDenied | None,
    summary: RatingSummary | AccessDenied | None,
    *,
    ship_within: timedelta = DEFAULT_SHIP_WITHIN,
    charge_percent: float | None = None,
) -> Advice:
    """Advise on `posting` at `now` (aware UTC) from the account's error `index` and rating
    `summary` (each as read, AccessDenied for a 403, None when not read). See the module
    docstring for the rule. `charge_percent` is Ozon's live fee rate, when known."""
    late = max(now - posting.shipment_date, timedelta(0))
    surcharge, next_at, next_surcharge = _tariff_now(posting, now)
    soon = next_at is not None and next_surcharge is not None and next_at - now <= ship_within
    percent = index_percent(index.index) if isinstance(index, ErrorIndex) else None
    band = fee_band(percent) if percent is not None else None
    fee = cancel_fee(posting, percent, charge_percent) if percent is not None else None
    facts = Facts(
        late=late,
        surcharge=surcharge,
        next_step_at=next_at,
        next_surcharge=next_surcharge,
        step_soon=soon,
        ship_cost=next_surcharge if soon else surcharge,
        index=percent,
        zone=band.zone if band else None,
        fee=fee[0] if fee else None,
        fee_capped=fee[1] if fee else False,
        delay_status=_status(summary, "rating_shipment_delay"),
        cancellation_status=_status(summary, "rating_order_cancellation"),
        index_missing=_missing(index),
        summary_missing=_missing(summary),
    )
    recommendation, rule, reason, why = _rule(facts, band)
    return Advice(recommendation, facts, reason, rule, why)


def _rule(facts: Facts, band: FeeBand | None) -> tuple[Recommendation, str, str, str]:
    """The rule of the module docstring, step by step: the recommendation, the name of the
    step that decided (`RULES`), the reason for it, and that reason without how late the
    posting is (it does not change from one moment to the next)."""
    if facts.late <= timedelta(0):
        why = "not late yet: ship it before the deadline"
        return "ship", "not_late", why, why
    late = f"{_span(facts.late)} late"
    cost = _decimal(facts.ship_cost)
    shipping = f"shipping costs {_text(facts.ship_cost)}"
    if facts.step_soon and facts.next_step_at is not None:
        shipping += f" from {facts.next_step_at:%Y-%m-%d %H:%M} UTC (the next tariff step)"
    if cost == 0:
        why = "shipping costs nothing extra yet"
        return "ship", "free", f"{late}, but {why}", why
    recommendation, rule, why = _weighed(facts, band, cost, shipping)
    return recommendation, rule, f"{late}; {why}", why


def _weighed(
    facts: Facts, band: FeeBand | None, cost: Decimal | None, shipping: str
) -> tuple[Recommendation, str, str]:
    """Steps 3 to 8 of the rule, for a late posting whose shipping costs something."""
    if band is None or facts.index is None:
        if facts.index_missing == "403":
            why = "the API key has no rating role (Ozon answered 403)"
            return "decide", "no_role", f"{shipping}; {why}"
        return "decide", "no_index", f"{shipping}; no error index from Ozon yet"
    index = f"error index {facts.index:g} % ({band.zone})"
    if band.may_block:
        return "ship", "red_zone", f"{index}: a seller cancellation may get the account blocked"
    fee = _decimal(facts.fee)
    if cost is None or fee is None or facts.ship_cost is None or facts.fee is None:
        return (
            "decide",
            "unknown_cost",
            f"{index}; the cost of shipping or of cancelling is unknown",
        )
    cancelling = f"a cancellation {_text(facts.fee)}{' (capped)' if facts.fee_capped else ''}"
    if facts.ship_cost.currency != facts.fee.currency:
        return "decide", "currencies", f"{shipping}, {cancelling}: different currencies"
    if cost <= fee:
        return "ship", "cheaper_to_ship", f"{shipping}, {cancelling} at {index} and the sale"
    dearer = f"{shipping}, more than {cancelling} at {index}"
    if facts.delay_status == "CRITICAL" and facts.cancellation_status != "CRITICAL":
        return "cancel", "delay_critical", f"{dearer}, and the shipment-delay rating is CRITICAL"
    return "decide", "sale_worth", f"{dearer}; the sale may still be worth it"


def holds_back_cancel(advice: Advice) -> bool:
    """True when `[policy.cancel] respect_advice` keeps the posting from being cancelled: the
    advice is "ship" (report it as `would_cancel` with `advice.reason` instead)."""
    return advice.recommendation == "ship"
