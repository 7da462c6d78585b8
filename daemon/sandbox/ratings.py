"""The simulated seller ratings and FBS error index, computed from the sandbox's own postings.

- `/v1/rating/summary`: `rating_order_cancellation` (postings cancelled by the seller among
  those taken in over the 7 days before yesterday), `rating_shipment_delay` (postings due in
  those days that were handed over late or are still not handed over) and `rating_on_time`
  (the opposite of the delay over 30 days), each with its value the day before, a status and a
  change. Statuses use the sandbox's own thresholds (`THRESHOLDS`); Ozon's are per account.
- `/v1/rating/index/fbs/info`: the error index over the 14 days before today (seller
  cancellations on a day / postings taken in that day, and over the window), written as a
  fraction (0.052), with a flat 3 % fee per seller cancellation capped at 1,500 RUB (the sandbox
  does not model Ozon's fee bands).

Knobs (see `knobs`): `ratings` sets a rating's current value (its status follows),
`error_index` the index sent; `forbidden_methods` answers 403 for either path.

This module imports only the standard library and the sandbox's clock, knobs, model and store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from daemon.sandbox.clock import US_PER_S, from_us
from daemon.sandbox.knobs import Knobs
from daemon.sandbox.model import UNFULFILLED_STATUSES, SimPosting
from daemon.sandbox.store import PostingStore

__all__ = ["THRESHOLDS", "error_index", "rating_summary"]

_DAY = 86_400 * US_PER_S
_FEE_RATE = Decimal("0.03")
_FEE_CAP = Decimal(1500)
# rating -> (title, group, direction, warning from, critical from), in percent.
THRESHOLDS: dict[str, tuple[str, str, str, float, float]] = {
    "rating_order_cancellation": (
        "Процент отмен FBS", "Логистика", "LOWER_IS_BETTER", 5.0, 10.0,
    ),
    "rating_shipment_delay": (
        "Процент просрочек FBS", "Логистика", "LOWER_IS_BETTER", 5.0, 10.0,
    ),
    "rating_on_time": (
        "Заказы, доставленные вовремя", "Логистика", "HIGHER_IS_BETTER", 95.0, 90.0,
    ),
}  # fmt: skip


def _seller_cancelled(posting: SimPosting) -> bool:
    cancellation = posting.cancellation
    return cancellation is not None and cancellation.affect_rating


def _late(posting: SimPosting, now_us: int) -> bool:
    if posting.delivering_date is not None:
        return posting.delivering_date > posting.shipment_date
    return posting.status in UNFULFILLED_STATUSES and posting.shipment_date < now_us


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _cancellation_rate(postings: Iterable[SimPosting], start: int, end: int) -> float:
    taken = errors = 0
    for posting in postings:
        if start <= posting.in_process_at < end:
            taken += 1
        if _seller_cancelled(posting) and start <= posting.last_changed < end:
            errors += 1
    return _percent(errors, taken)


def _delay_rate(postings: Iterable[SimPosting], start: int, end: int, now_us: int) -> float:
    due = late = 0
    for posting in postings:
        if start <= posting.shipment_date < end and posting.status != "cancelled":
            due += 1
            late += _late(posting, now_us)
    return _percent(late, due)


def _status(rating: str, value: float) -> str:
    _, _, direction, warning, critical = THRESHOLDS[rating]
    if direction == "LOWER_IS_BETTER":
        return "CRITICAL" if value >= critical else "WARNING" if value >= warning else "OK"
    return "CRITICAL" if value < critical else "WARNING" if value < warning else "OK"


def _item(rating: str, value: float, past: float) -> dict[str, Any]:
    title, _, direction, _, _ = THRESHOLDS[rating]
    moved = "DIRECTION_RISE" if value > past else "DIRECTION_FALL" if value < past else ""
    good = (value < past) == (direction == "LOWER_IS_BETTER")
    return {
        "rating": rating,
        "name": title,
        "current_value": value,
        "past_value": past,
        "rating_direction": direction,
        "status": _status(rating, value),
        "value_type": "PERCENT",
        "change": {
            "direction": moved or "DIRECTION_NONE",
            "meaning": ("MEANING_GOOD" if good else "MEANING_BAD") if moved else "MEANING_NONE",
        },
    }


def _values(postings: list[SimPosting], end: int, now_us: int) -> dict[str, float]:
    """Each rating over the window ending at `end` (7 days; 30 for `rating_on_time`)."""
    start = end - 7 * _DAY
    return {
        "rating_order_cancellation": _cancellation_rate(postings, start, end),
        "rating_shipment_delay": _delay_rate(postings, start, end, now_us),
        "rating_on_time": round(100.0 - _delay_rate(postings, end - 30 * _DAY, end, now_us), 2),
    }


def rating_summary(store: PostingStore, now_us: int, knobs: Knobs) -> dict[str, Any]:
    """The `/v1/rating/summary` answer at sandbox time `now_us` (a JSON-able dict)."""
    postings = store.all()
    end = now_us - now_us % _DAY - _DAY  # today and yesterday do not count
    current = _values(postings, end, now_us)
    past = _values(postings, end - _DAY, now_us)
    current.update((name, value) for name, value in knobs.ratings.items() if name in current)
    return {
        "groups": [
            {
                "group_name": "Логистика",
                "items": [_item(name, current[name], past[name]) for name in THRESHOLDS],
            }
        ],
        "localization_index": [],
        "penalty_score_exceeded": False,
        "premium": False,
        "premium_plus": False,
    }


def _price(posting: SimPosting) -> Decimal:
    return sum((Decimal(p.price) * p.quantity for p in posting.products), Decimal(0))


def _money(value: Decimal) -> float:
    return float(round(value, 2))


def error_index(store: PostingStore, now_us: int, knobs: Knobs) -> dict[str, Any]:
    """The `/v1/rating/index/fbs/info` answer at sandbox time `now_us` (a JSON-able dict)."""
    today = now_us - now_us % _DAY
    start = today - 14 * _DAY
    taken, errors = [0] * 14, [0] * 14
    fees = [Decimal(0)] * 14
    for posting in store.all():
        if start <= posting.in_process_at < today:
            taken[(posting.in_process_at - start) // _DAY] += 1
        if _seller_cancelled(posting) and start <= posting.last_changed < today:
            day = (posting.last_changed - start) // _DAY
            errors[day] += 1
            fees[day] += min(_price(posting) * _FEE_RATE, _FEE_CAP)
    first = from_us(start).date().toordinal()
    days = [date.fromordinal(first + i) for i in range(14)]
    index = round(sum(errors) / sum(taken), 4) if sum(taken) else 0.0
    return {
        "currency_code": "RUB",
        "defects": [
            {
                "date": day.isoformat(),
                "index_by_date": round(errors[i] / taken[i], 4) if taken[i] else 0.0,
                "processing_costs_sum_by_date": _money(fees[i]),
            }
            for i, day in enumerate(days)
        ],
        "index": index if knobs.error_index is None else knobs.error_index,
        "period_from": days[0].isoformat(),
        "period_to": days[-1].isoformat(),
        "processing_costs_sum": _money(sum(fees, Decimal(0))),
    }
