"""What an alert about a posting shows besides its deadline, worked out from the posting and
Ozon's numbers when the alert is made, as payload data (the renderer words it per language):

- `overdue`: the ship-or-cancel advice (`daemon.advice`) with its facts side by side;
- `tariff_step`: when the tariff steps up, the tariff now and the next one;
- `needs_data`: what is missing for which product (`requirements`).

`advice_json` is also the `advice` field of `status --json` elements. Reading the tariff from
the posting (`Posting.tariff`, `tariff_steps`) happens here, only for the postings alerted.

Imports only the advice, the policy's notices and keys, the event names, the models and the
standard library: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from daemon.advice import Advice, advise
from daemon.alerts import Event
from daemon.models import AccountRatings, Money, Posting
from daemon.policy_keys import rfc3339
from daemon.policy_notices import next_tariff

__all__ = ["advice_json", "alert_facts", "posting_advice"]


def _money(money: Money | None) -> list[str] | None:
    return None if money is None else [money.amount, money.currency]


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def posting_advice(posting: Posting, now: datetime, ratings: AccountRatings | None) -> Advice:
    """The ship-or-cancel advice for `posting` at `now` from the account's kept ratings."""
    kept = ratings or AccountRatings()
    return advise(posting, now, kept.index, kept.summary)


def advice_json(advice: Advice) -> dict[str, Any]:
    """The advice as JSON data: recommendation, the rule's step, the reason (without how late
    the posting is: `seconds_left` says that, and the element stays the same from one moment to
    the next) and the facts (money as [amount, currency], times RFC 3339, the index in
    percent)."""
    facts = advice.facts
    return {
        "recommendation": advice.recommendation,
        "rule": advice.rule,
        "reason": advice.why,
        "surcharge": _money(facts.surcharge),
        "next_step_at": _moment(facts.next_step_at),
        "next_surcharge": _money(facts.next_surcharge),
        "step_soon": facts.step_soon,
        "ship_cost": _money(facts.ship_cost),
        "error_index": facts.index,
        "zone": facts.zone,
        "cancel_fee": _money(facts.fee),
        "fee_capped": facts.fee_capped,
        "delay_status": facts.delay_status,
        "cancellation_status": facts.cancellation_status,
        "index_missing": facts.index_missing,
        "summary_missing": facts.summary_missing,
    }


def _tariff(posting: Posting) -> dict[str, Any] | None:
    starts = posting.next_tariff_starts_at
    if starts is None:
        return None
    tariff = posting.tariff
    kind, rate, charge = next_tariff(posting, starts, tariff)
    return {
        "starts_at": rfc3339(starts),
        "next": {"type": kind, "rate": rate, "charge": _money(charge)},
        "now": (
            {
                "type": tariff.current_type,
                "rate": tariff.current_rate,
                "charge": _money(tariff.current_charge),
            }
            if tariff is not None and tariff.current_type
            else None
        ),
    }


def _missing(posting: Posting) -> list[dict[str, Any]]:
    products = {product.sku: product for product in posting.products}
    return [
        {
            "name": requirement.name,
            "products": [
                {
                    "sku": sku,
                    "offer_id": products[sku].offer_id if sku in products else "",
                    "name": products[sku].name if sku in products else "",
                }
                for sku in requirement.skus
            ],
        }
        for requirement in posting.requirement_skus
    ]


def alert_facts(
    event: str, posting: Posting, now: datetime, ratings: AccountRatings | None = None
) -> dict[str, Any] | None:
    """The payload data an alert of `event` about `posting` shows besides its deadline (see
    the module docstring), or None for an event that shows nothing more."""
    if event == Event.OVERDUE:
        return {"advice": advice_json(posting_advice(posting, now, ratings))}
    if event == Event.TARIFF_STEP:
        tariff = _tariff(posting)
        return {"tariff": tariff} if tariff is not None else None
    if event == Event.NEEDS_DATA:
        return {"missing": _missing(posting)}
    return None
