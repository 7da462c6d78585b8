"""PURE: the policy's notices from Ozon's own data about a watched posting.

- `tariff_step`: the shipping-speed tariff steps up at `next_tariff_starts_at` (T). The warning
  is due `tariff_warn_before` (W) earlier and belongs to the window T - W <= now < T: once the
  step has started it is too late to warn (the next cycle reads the next T). None for Ozon's
  9999-12-31 "no further step" marker (T is None) or with W "0s". Once per posting and T (the
  ledger step names T: a moved start warns again).
- `needs_data`: `requirements` name data Ozon needs before the posting can be assembled (a
  customs declaration number, a country of origin, a mandatory mark...). Once per posting and
  set of missing data (the ledger step lists the lists and SKUs: a changed set alerts again).

`notices(posting, now, warn_before, fired)` returns the new ones as (event, step, reason);
`notice_wakeup(...)` the next moment one becomes due. The reasons are one English line for logs
and `history`; messages are worded per language from the posting itself (`daemon.alert_facts`).
Reading the tariff's details (`Posting.tariff`) happens only for a warning that is new.

Imports only `daemon.models`, `daemon.policy_keys`, `daemon.alerts` (event names) and the
standard library.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime, timedelta

from daemon import policy_keys as key
from daemon.alerts import Event
from daemon.models import Money, Posting, Tariff, TariffStep
from daemon.policy_keys import rfc3339

__all__ = ["REQUIREMENT_NAMES", "next_tariff", "notice_wakeup", "notices"]

# Ozon's `requirements.*` lists and what each asks for (API-FACTS section 6).
REQUIREMENT_NAMES = {
    "products_requiring_gtd": "customs declaration number (GTD)",
    "products_requiring_country": "country of origin",
    "products_requiring_change_country": "changed country of origin",
    "products_requiring_mandatory_mark": "mandatory marking code (Chestny ZNAK)",
    "products_requiring_rnpt": "RNPT (registration number of the batch)",
    "products_requiring_jw_uin": "jewellery UIN",
    "products_requiring_imei": "IMEI",
    "products_requiring_weight": "actual weight",
}
Notice = tuple[Event, str, str]


def notices(
    posting: Posting,
    now: datetime,
    warn_before: timedelta,
    fired: Set[tuple[str, str, str]] = frozenset(),
) -> list[Notice]:
    """The `tariff_step` and `needs_data` notices of a watched `posting` at `now` whose ledger
    key is not in `fired`, each as (event, ledger step, reason)."""
    found: list[Notice] = []
    number, starts = posting.posting_number, posting.next_tariff_starts_at
    warn_at = key.tariff_warn_at(starts, warn_before)
    if warn_at is not None and starts is not None and warn_at <= now < starts:
        step = key.tariff_step_step(starts)
        if (number, Event.TARIFF_STEP, step) not in fired:
            found.append((Event.TARIFF_STEP, step, _tariff_reason(posting, starts)))
    if posting.requirement_skus:
        step = key.needs_data_step((r.name, r.skus) for r in posting.requirement_skus)
        if (number, Event.NEEDS_DATA, step) not in fired:
            found.append((Event.NEEDS_DATA, step, _data_reason(posting)))
    return found


def notice_wakeup(
    posting: Posting,
    now: datetime,
    warn_before: timedelta,
    fired: Set[tuple[str, str, str]] = frozenset(),
    before: datetime | None = None,
) -> datetime | None:
    """The first moment after `now` at which a notice of `posting` becomes due (its tariff
    warning), given `fired`; None if there is none, or none earlier than `before` (then the
    ledger is not looked up: a cycle asks this for every posting)."""
    starts = posting.next_tariff_starts_at
    warn_at = key.tariff_warn_at(starts, warn_before)
    if warn_at is None or starts is None or warn_at <= now:
        return None
    if before is not None and warn_at >= before:
        return None
    if (posting.posting_number, Event.TARIFF_STEP, key.tariff_step_step(starts)) in fired:
        return None
    return warn_at


def next_tariff(
    posting: Posting, starts: datetime, tariff: Tariff | None = None
) -> tuple[str, float, Money | None]:
    """(type, rate %, charge) of the tariff step starting at `starts`: Ozon's `next_tariff_*`
    (of `tariff`, the posting's when not given) when it gives them, else the step of the
    timeline in force at that moment; ("", 0, None) when neither says."""
    tariff = tariff or posting.tariff
    if tariff is not None and (tariff.next_type or tariff.next_charge is not None):
        return tariff.next_type, tariff.next_rate, tariff.next_charge
    step: TariffStep | None = posting.tariff_step_at(starts)
    if step is None:
        return "", 0.0, None
    return step.tariff_type, step.rate, step.charge


def _money(money: Money | None) -> str:
    return f"{money.amount} {money.currency}".strip() if money is not None else "unknown"


def _tariff_reason(posting: Posting, starts: datetime) -> str:
    tariff = posting.tariff  # read once, here: only for a warning that is new
    kind, rate, charge = next_tariff(posting, starts, tariff)
    what = f"{kind or 'next tariff'} {rate:g} %, {_money(charge)}"
    if tariff is not None and tariff.current_type:
        now_costs = (
            f"{tariff.current_type} {tariff.current_rate:g} %, {_money(tariff.current_charge)}"
        )
        return f"the shipping tariff steps up at {rfc3339(starts)}: {now_costs} -> {what}"
    return f"the shipping tariff steps up at {rfc3339(starts)}: {what}"


def _data_reason(posting: Posting) -> str:
    names = {product.sku: product.offer_id or product.name for product in posting.products}
    parts = []
    for requirement in posting.requirement_skus:
        what = REQUIREMENT_NAMES.get(requirement.name, requirement.name.replace("_", " "))
        products = ", ".join(
            f"SKU {sku} ({names[sku]})" if names.get(sku) else f"SKU {sku}"
            for sku in requirement.skus
        )
        parts.append(f"{what} for {products or 'a product'}")
    return "missing before assembly: " + "; ".join(parts)
