"""The cancellation executor's pure guards (issue 7): what may be sent this cycle, and why not.

    plan_cycle(...)             the cycle-level guards: a failed cycle, the clock against
                                Ozon's Date header, the share breaker, refusals already
                                reported, postings the ship-or-cancel advice says to ship
                                (respect_advice), max_per_cycle
    dry_run_plan(...)           the same limits, as the report of a dry run
    CancelReport                what the executor did in one cycle
    changed_fields(...)         what changed between the listing and the re-read
    not_cancellable_reason(...) whether the policy still selects the re-read posting
    choose_reason(...)          the first configured reason Ozon allows for the posting, or
                                why none is, naming what it allows and the key to set

PURE: no I/O, no clock; imports the policy, its keys and rules, the models and the standard
library. The executor (`daemon.cancel`) applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from daemon import policy
from daemon.alerts import Event
from daemon.models import LedgerKey, Posting, PostingCancelReasons
from daemon.policy import CancelSelection, Watched
from daemon.policy_keys import rfc3339
from daemon.policy_rules import CancelRules, Rules

__all__ = [
    "MAX_CLOCK_SKEW",
    "CancelPlan",
    "CancelReport",
    "ShopPeriod",
    "advice_key",
    "as_cancelled",
    "changed_fields",
    "choose_reason",
    "clock_guard",
    "dry_run_plan",
    "error_key",
    "is_cancelled",
    "not_cancellable_reason",
    "plan_cycle",
    "refused_key",
]

MAX_CLOCK_SKEW = 120.0  # seconds between the local clock and Ozon's Date header


@dataclass(frozen=True)
class CancelPlan:
    """The cycle-level guards' verdict: `send` in order; `held` with the reason for each;
    `advised`: held because the ship-or-cancel advice says ship, with the advice's reason."""

    send: tuple[CancelSelection, ...]
    held: tuple[tuple[CancelSelection, str], ...]
    advised: tuple[tuple[CancelSelection, str], ...] = ()


@dataclass
class ShopPeriod:
    """One shop's (Client-Id's) cancelling in one poll interval, shared by its accounts' cycles
    (entries splitting it by warehouse, the extra cycle after a wake-up): `sent` requests so
    far against `max_per_cycle`, and each account's last (selected, watched) counts for the
    share breaker."""

    since: datetime
    sent: int = 0
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    def others(self, account: str) -> tuple[int, int]:
        """(selected, watched) of the shop's other accounts in this interval."""
        counts = [c for name, c in self.seen.items() if name != account]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)


@dataclass
class CancelReport:
    """What the executor did in one cycle of one account (posting numbers)."""

    account: str
    dry_run: bool = False
    cancelled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    held_back: dict[str, str] = field(default_factory=dict)
    planned: list[str] = field(default_factory=list)
    requests: int = 0


def clock_guard(skew: float | None, limit: float = MAX_CLOCK_SKEW) -> str | None:
    """Why no posting may be cancelled given the local-minus-Ozon clock `skew` (seconds, None
    when no Date header was seen), or None when the clocks agree within `limit`."""
    if skew is None:
        return "Ozon's time is unknown (no Date header), so the deadline cannot be trusted"
    if abs(skew) > limit:
        way = "ahead of" if skew > 0 else "behind"
        return (
            f"the local clock is {abs(skew):.0f}s {way} Ozon's (over {limit:.0f}s): "
            "a sign of a bad clock, nothing is cancelled"
        )
    return None


def _at(posting: Posting) -> str:
    return rfc3339(posting.shipment_date)


def refused_key(posting: Posting) -> LedgerKey:
    """The ledger key recording that Ozon refused (or we gave up) cancelling `posting` for its
    current deadline: no new attempt is made for that deadline."""
    return LedgerKey(posting.posting_number, Event.CANCEL_FAILED, f"refused@{_at(posting)}")


def advice_key(posting: Posting) -> LedgerKey:
    """The ledger key of a cancel held back by the ship-or-cancel advice (respect_advice) for
    the posting's current deadline: journalled (`cancel_skipped`) and told once."""
    return LedgerKey(posting.posting_number, Event.WOULD_CANCEL, f"advice@{_at(posting)}")


def error_key(posting: Posting) -> LedgerKey:
    """The ledger key of a cancel not sent because of an error (tried again next cycle):
    reported once per deadline."""
    return LedgerKey(posting.posting_number, Event.CANCEL_FAILED, f"error@{_at(posting)}")


def plan_cycle(
    selected: Sequence[CancelSelection],
    *,
    watched: int,
    cancel: CancelRules,
    skew: float | None,
    cycle_error: str | None = None,
    fired: Set[tuple[str, str, str]] = frozenset(),
    shop_selected: int = 0,
    advised: Mapping[str, str] | None = None,
) -> CancelPlan:
    """Apply the cycle-level guards to the policy's `selected` (soonest deadline first).

    In order: a failed cycle (`cycle_error`), `clock_guard(skew)`, and the share breaker over
    all of `selected` (plus `shop_selected` of the shop's other accounts, whose watched
    postings `watched` includes) against `watched` hold back every posting; postings whose
    refusal key is in `fired` are dropped silently (already reported); those in `advised`
    (posting number -> why the advice says ship) are held back as `advised`, taking no place
    of `max_per_cycle`, which holds back the rest.
    """
    reason: str | None = None
    if cycle_error is not None:
        reason = f"this cycle failed ({cycle_error}), nothing is cancelled"
    else:
        reason = clock_guard(skew)
    total = len(selected) + shop_selected
    if reason is None and policy.share_breaker_trips(total, watched, cancel.max_share):
        reason = (
            f"the share breaker holds back all {len(selected)}: {total} selected is more than "
            "max_share "
            f"{cancel.max_share:g} of {watched} watched postings (bad data or a bad clock?)"
        )
    if reason is not None:
        return CancelPlan((), tuple((s, reason) for s in selected))
    open_ = [s for s in selected if tuple(refused_key(s.posting)) not in fired]
    advised = advised or {}
    ship = tuple(
        (s, advised[s.posting.posting_number]) for s in open_ if s.posting.posting_number in advised
    )
    open_ = [s for s in open_ if s.posting.posting_number not in advised]
    send, rest = policy.limit_per_cycle(open_, cancel.max_per_cycle)
    waiting = f"over max_per_cycle {cancel.max_per_cycle} this cycle; waits for the next cycle"
    return CancelPlan(send, tuple((s, waiting) for s in rest), ship)


def dry_run_plan(
    selected: Sequence[CancelSelection], watched: int, cancel: CancelRules
) -> tuple[tuple[CancelSelection, str], ...]:
    """A dry run's report of the selections (soonest deadline first): each with its reason,
    naming the limit that would hold it back (`share_breaker_trips` over `watched` postings,
    then `limit_per_cycle`)."""
    trips = policy.share_breaker_trips(len(selected), watched, cancel.max_share)
    this_cycle, _ = policy.limit_per_cycle(selected, cancel.max_per_cycle)
    planned = []
    for index, selection in enumerate(selected):
        reason = f"{selection.reason}; dry run, nothing is cancelled"
        if trips:
            reason += f"; the share breaker would hold back all {len(selected)}"
        elif index >= len(this_cycle):
            reason += f"; over max_per_cycle {cancel.max_per_cycle} this cycle"
        planned.append((selection, reason))
    return tuple(planned)


def changed_fields(listed: Posting, fresh: Posting) -> str:
    """What changed between the listing and the re-read that forbids cancelling this cycle
    (status, shipment_date, the cancel action), as text; "" when nothing did."""
    changes = []
    if listed.status != fresh.status:
        changes.append(f"status {listed.status} -> {fresh.status}")
    if listed.shipment_date != fresh.shipment_date:
        changes.append(
            f"shipment_date {rfc3339(listed.shipment_date)} -> {rfc3339(fresh.shipment_date)}"
        )
    if listed.can_cancel != fresh.can_cancel:
        changes.append("the cancel action " + ("appeared" if fresh.can_cancel else "disappeared"))
    return ", ".join(changes)


def not_cancellable_reason(
    posting: Posting, now: datetime, rules: Rules, *, held: bool = False
) -> str | None:
    """None when the policy still selects `posting` at `now` (its own guard, one place for the
    rules: statuses, overdue_for, the cancel action, hand-over substatuses, delivering_date,
    holds); otherwise a description of the posting's state that explains why not."""
    item = Watched(posting=posting, held=held)
    if policy.decide([item], now, rules).selected:
        return None
    state = [f"status {posting.status}"]
    if posting.substatus:
        state.append(f"substatus {posting.substatus}")
    if posting.delivering_date is not None:
        state.append("delivering_date set")
    state.append("cancel " + ("available" if posting.can_cancel else "not available"))
    if not posting.has_deadline:
        state.append("no shipment deadline")
    elif now < posting.shipment_date + rules.cancel.overdue_for:
        state.append(f"not overdue by {rules.cancel.overdue_for} yet")
    if held:
        state.append("held")
    return "the cancel rules no longer select it (" + ", ".join(state) + ")"


def choose_reason(
    reasons: Iterable[PostingCancelReasons],
    posting_number: str,
    wanted: Sequence[int],
    key: str = "[policy.cancel] reason_ids",
) -> tuple[int | None, str]:
    """The first of the configured reasons `wanted` (in order) that Ozon allows for the
    posting, and ""; or None and why none is: the reasons Ozon allows and what to set in the
    config (`key`) to use them."""
    entry = next((r for r in reasons if r.posting_number == posting_number), None)
    offered = entry.reasons if entry is not None else ()
    for reason_id in wanted:
        if entry is not None and entry.allows(reason_id):
            return reason_id, ""
    allowed = ", ".join(f"{r.id} ({r.title})" if r.title else str(r.id) for r in offered)
    asked = ", ".join(str(r) for r in wanted)
    subject = (
        f"cancel reason {asked} is not allowed" if len(wanted) == 1
        else f"none of the cancel reasons {asked} is allowed"
    )  # fmt: skip
    refusal = f"{subject} for this posting; Ozon allows: {allowed or 'none'}; nothing was sent"
    if offered:
        wider = list(dict.fromkeys([*wanted, *(r.id for r in offered)]))
        refusal += (
            f"; to cancel it with a reason Ozon allows, set {key} = "
            f"[{', '.join(str(r) for r in wider)}] (the first one Ozon allows is used)"
        )
    return None, refusal


def is_cancelled(posting: Posting) -> bool:
    """True when Ozon shows `posting` cancelled."""
    return posting.status == "cancelled" or posting.substatus == "posting_canceled"


def as_cancelled(posting: Posting) -> Posting:
    """`posting` as it is once Ozon has applied our cancel (for the alert)."""
    return msgspec.structs.replace(posting, status="cancelled", substatus="posting_canceled")
