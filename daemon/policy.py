"""The deadline policy: what to alert and which postings to select for cancelling, and when.

PURE: `decide(watched, now, rules, fired, departed)` turns postings, the time, one account's
`Rules` and the ledger keys already recorded into `Decisions`; `next_wakeup` says when the
next decision is due. No I/O, no clock, no logging; this module imports only `daemon.models`,
`daemon.policy_keys`, `daemon.policy_rules`, `daemon.policy_notices`, `daemon.policy_types`
(its value types, re-exported here), `daemon.alerts` (event names) and the standard library.

Time semantics (D = shipment_date, left = D - now):
- reminder for step S: fires once 0 < left < S (strictly: with exactly S left, not yet). Steps
  crossed together give one reminder for the smallest; the others are marked done silently.
- overdue: now >= D (at D exactly, nothing is left). Repeat k fires at D + k * overdue_repeat
  ("0s": only k = 0). A held posting gets the first overdue alert but no repeats. Steps crossed
  while already overdue are marked done silently.
- cancel selection: now >= D + overdue_for and the other guards of `_can_select`.
- no deadline (D is `models.NO_DEADLINE`, Ozon's "none"): no reminder, overdue alert, cancel
  selection or wake-up, ever; only a move to or from it is a deadline_changed.
- tariff_step and needs_data (Ozon's own data about the posting): see `daemon.policy_notices`.

Ledger keys (posting_number, event, step) and their step formats are in `daemon.policy_keys`.
Every step carries the deadline it was computed against, so a moved deadline
re-arms reminders and overdue alerts.

Working calendars: a posting whose warehouse has one (`Watched.calendar`) gets `at_risk` once
the warehouse is closed until after D, and with `remind_in = "working"` its reminder steps
count working time (and so do their wake-ups); cancel selection counts clock time, calendar or
not. Those rules are in `daemon.policy_calendar`, which this module imports too (with the
`daemon.worktime` calendar type).

Caller: per account per cycle, `decide(...)`; alert `alerts` and record `mark_done` (through
`daemon.alerts`), and hand `selected` to the cancel executor: it alone decides, at the side
effect, whether to send or only report (dry run), applying `limit_per_cycle` and
`share_breaker_trips`. Schedule the next evaluation no later than `next_wakeup(...)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from datetime import datetime, timedelta
from typing import TypeVar

from daemon import policy_keys as key
from daemon.alerts import Event
from daemon.models import NO_DEADLINE, LedgerKey, Posting
from daemon.policy_calendar import (
    at_risk_reason,
    at_risk_since,
    working_reminder_reason,
    working_steps_crossed_after,
)
from daemon.policy_keys import format_span, format_step, rfc3339
from daemon.policy_notices import notice_wakeup, notices
from daemon.policy_rules import KNOWN_STATUSES, NO_CANCEL_SUBSTATUSES, CancelRules, Rules
from daemon.policy_types import AlertDecision, CancelSelection, Decisions, Departed, Watched
from daemon.worktime import Calendar

__all__ = [
    "AlertDecision",
    "CancelRules",
    "CancelSelection",
    "Decisions",
    "Departed",
    "Rules",
    "Watched",
    "decide",
    "is_watched",
    "limit_per_cycle",
    "next_wakeup",
    "share_breaker_trips",
]

_EVENT_ORDER = {
    event: rank
    for rank, event in enumerate(
        (
            Event.DEADLINE_CHANGED,
            Event.REMINDER,
            Event.AT_RISK,
            Event.OVERDUE,
            Event.CANCELLED_ELSEWHERE,
            Event.TARIFF_STEP,
            Event.NEEDS_DATA,
        )
    )
}
# The smallest datetime step: a reminder fires at the first instant strictly after D - S.
_TICK = timedelta(microseconds=1)


def is_watched(posting: Posting, rules: Rules) -> bool:
    """True for a status in `watch_statuses`, and for any status Ozon does not document
    (better an alert too many than a deadline missed); such postings are never cancelled."""
    return posting.status in rules.watch_statuses or posting.status not in KNOWN_STATUSES


def share_breaker_trips(selected: int, watched: int, max_share: float) -> bool:
    """True when cancelling `selected` of `watched` postings in one cycle must be refused:
    3 or more, and more than `max_share` of them."""
    return selected >= 3 and (watched <= 0 or selected / watched > max_share)


_T = TypeVar("_T")


def limit_per_cycle(
    selected: Sequence[_T], max_per_cycle: int
) -> tuple[tuple[_T, ...], tuple[_T, ...]]:
    """Split `selected` (in order) into (this cycle's at most `max_per_cycle`, the rest)."""
    count = max(0, max_per_cycle)
    return tuple(selected[:count]), tuple(selected[count:])


def _can_select(posting: Posting, cancel: CancelRules) -> bool:
    """The guards of a cancel selection that do not depend on time or holds."""
    return (
        posting.status in cancel.statuses
        and posting.status in KNOWN_STATUSES
        and posting.can_cancel
        and "ship_async_in_process" not in posting.available_actions
        and posting.delivering_date is None
        and posting.substatus not in NO_CANCEL_SUBSTATUSES
    )


def _is_split(posting: Posting, has_parts: bool, parents: Set[str]) -> bool:
    return (
        has_parts
        or posting.status == "cancelled_from_split_pending"
        or posting.substatus == "posting_split_pending"
        or posting.posting_number in parents
    )


def _cancelled_reason(posting: Posting) -> str:
    info = posting.cancellation
    who = (info.initiator or info.cancellation_type) if info else ""
    why = f": {info.reason}" if info and info.reason else ""
    return f"cancelled outside ozon-sync by {who or 'someone else'}{why}"


def _check(now: datetime, postings: Iterable[Posting]) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, not {now!r}")
    seen: set[str] = set()
    for posting in postings:
        if posting.posting_number in seen:
            raise ValueError(f"posting {posting.posting_number} is passed twice")
        seen.add(posting.posting_number)


def decide(
    watched: Iterable[Watched],
    now: datetime,
    rules: Rules,
    fired: Set[tuple[str, str, str]] = frozenset(),
    departed: Iterable[Departed] = (),
) -> Decisions:
    """Decide one cycle of one account.

    Given the postings on watch (those `is_watched` rejects are ignored), the aware `now`,
    the account's `rules`, the ledger keys already recorded and the postings that left the
    watch this cycle, return the `Decisions`, independent of the order of the inputs.
    Cancel selections are returned whether cancelling is enabled or not.
    Raises ValueError for a naive `now` or a posting number passed twice.
    """
    watched, departed = tuple(watched), tuple(departed)
    postings = [w.posting for w in watched] + [d.posting for d in departed]
    _check(now, postings)
    out = _Collector(fired)
    on_watch = [w for w in watched if is_watched(w.posting, rules)]
    for item in on_watch:
        _deadline_events(item, now, rules, out)
        for event, step, reason in notices(item.posting, now, rules.tariff_warn_before, fired):
            out.fire(event, item.posting, step, reason)
    selected = sorted(
        (s for w in on_watch if (s := _select(w, now, rules.cancel)) is not None),
        key=lambda s: (s.posting.shipment_date, s.posting.posting_number),
    )
    parents = {p.parent_posting_number for p in postings if p.parent_posting_number}
    for gone in departed:
        posting = gone.posting
        if gone.cancelled_by_us or _is_split(posting, gone.has_parts, parents):
            continue
        if posting.status == "cancelled" or posting.substatus == "posting_canceled":
            reason = _cancelled_reason(posting)
            out.fire(Event.CANCELLED_ELSEWHERE, posting, key.CANCELLED_ELSEWHERE_STEP, reason)
    return Decisions(
        alerts=tuple(sorted(out.alerts, key=_alert_order)),
        mark_done=tuple(sorted(set(out.marks))),
        selected=tuple(selected),
        watched=len(on_watch),
    )


class _Collector:
    """Alerts and silent marks of one `decide` call, skipping keys already fired."""

    def __init__(self, fired: Set[tuple[str, str, str]]) -> None:
        self.fired = fired
        self.alerts: list[AlertDecision] = []
        self.marks: list[LedgerKey] = []

    def fire(self, event: Event, posting: Posting, step: str, reason: str) -> None:
        if (posting.posting_number, event, step) not in self.fired:
            self.alerts.append(AlertDecision(event, posting, step, reason))

    def is_new(self, posting: Posting, event: Event, step: str) -> bool:
        """True when the key is not fired yet (check before building an expensive reason)."""
        return (posting.posting_number, event, step) not in self.fired

    def mark(self, posting: Posting, event: Event, step: str) -> None:
        if (posting.posting_number, event, step) not in self.fired:
            self.marks.append(LedgerKey(posting.posting_number, event, step))


def _alert_order(alert: AlertDecision) -> tuple[datetime, str, int, str]:
    p = alert.posting
    return (p.shipment_date, p.posting_number, _EVENT_ORDER[alert.event], alert.step)


def _deadline_events(item: Watched, now: datetime, rules: Rules, out: _Collector) -> None:
    """deadline_changed, reminder and overdue decisions for one watched posting."""
    posting, deadline, old = item.posting, item.posting.shipment_date, item.previous_shipment_date
    if old is not None and old != deadline:
        step = key.deadline_changed_step(old, deadline)
        out.fire(Event.DEADLINE_CHANGED, posting, step, _moved_reason(old, deadline))
    if not posting.has_deadline:  # Ozon gives none: nothing is ever due
        return
    left, calendar = deadline - now, item.calendar
    if left > timedelta(0):
        working = calendar if rules.remind_in == "working" else None
        if working is None:
            crossed = [step for step in rules.steps if left < step]
        else:
            after = working_steps_crossed_after(working, deadline, rules.steps)
            crossed = [
                step for step, moment in zip(rules.steps, after, strict=True) if now > moment
            ]
        if crossed:
            step = key.reminder_step(crossed[0], deadline)
            if out.is_new(posting, Event.REMINDER, step):  # reasons are built for new alerts only
                reason = (
                    f"{format_span(left)} left to shipment_date {rfc3339(deadline)}, "
                    f"under the {format_step(crossed[0])} reminder step"
                    if working is None
                    else working_reminder_reason(working, now, deadline, crossed[0])
                )
                out.fire(Event.REMINDER, posting, step, reason)
        for step_left in crossed[1:]:
            out.mark(posting, Event.REMINDER, key.reminder_step(step_left, deadline))
        if calendar is not None:
            _at_risk(posting, calendar, now, out)
        return
    for step_left in rules.steps:  # crossed while already overdue: overdue covers them
        out.mark(posting, Event.REMINDER, key.reminder_step(step_left, deadline))
    held = item.is_held(now)
    repeats = rules.overdue_repeat > timedelta(0) and not held
    k = -left // rules.overdue_repeat if repeats else 0
    step = key.overdue_step(k, deadline)
    if out.is_new(posting, Event.OVERDUE, step):
        reason = f"overdue by {format_span(-left)} (shipment_date {rfc3339(deadline)})"
        out.fire(Event.OVERDUE, posting, step, reason + ("; held" if held else ""))
    if k:  # recorded so that a hold placed later does not bring a "first" overdue alert
        out.mark(posting, Event.OVERDUE, key.overdue_step(0, deadline))


def _at_risk(posting: Posting, calendar: Calendar, now: datetime, out: _Collector) -> None:
    """at_risk for a posting not overdue yet, once its warehouse is closed until after D."""
    deadline = posting.shipment_date
    since = at_risk_since(calendar, deadline)
    if since is not None and now >= since:
        step = key.at_risk_step(deadline)
        if out.is_new(posting, Event.AT_RISK, step):
            out.fire(Event.AT_RISK, posting, step, at_risk_reason(calendar, now, deadline))


def _moved_reason(old: datetime, new: datetime) -> str:
    if new == NO_DEADLINE:
        return f"shipment_date removed: {rfc3339(old)} -> none (no deadline)"
    if old == NO_DEADLINE:
        return f"shipment_date set: none -> {rfc3339(new)}"
    way = "later" if new > old else "earlier"
    span = format_span(abs(new - old))
    return f"shipment_date moved {way} by {span}: {rfc3339(old)} -> {rfc3339(new)}"


def _select(item: Watched, now: datetime, cancel: CancelRules) -> CancelSelection | None:
    """The cancel selection of one watched posting, or None when the rules do not select it."""
    posting, deadline = item.posting, item.posting.shipment_date
    if item.is_held(now) or not posting.has_deadline or not _can_select(posting, cancel):
        return None
    if now < deadline + cancel.overdue_for:
        return None
    moved = item.previous_shipment_date
    if moved is not None and deadline < moved:  # the seller gets a cycle after deadline_changed
        return None
    reason = (
        f"overdue by {format_span(now - deadline)}, "
        f"over overdue_for {format_step(cancel.overdue_for)}"
    )
    return CancelSelection(posting, reason, key.would_cancel_step(deadline))


def next_wakeup(
    watched: Iterable[Watched],
    now: datetime,
    rules: Rules,
    fired: Set[tuple[str, str, str]] = frozenset(),
) -> datetime | None:
    """The first moment after `now` at which `decide` may decide something new for these
    postings (a reminder step, the deadline, an overdue repeat, a hold ending, a cancel
    threshold, a tariff warning), given `fired` as recorded after deciding at `now`; None if
    there is none.
    Raises ValueError for a naive `now`.
    """
    _check(now, ())
    steps, cancel, repeat = rules.steps, rules.cancel, rules.overdue_repeat
    repeats = repeat > timedelta(0)
    best: datetime | None = None
    for item in watched:
        posting = item.posting
        if not is_watched(posting, rules):
            continue
        notice = notice_wakeup(posting, now, rules.tariff_warn_before, fired, best)
        if notice is not None:
            best = notice
        if not posting.has_deadline:
            continue
        deadline, number = posting.shipment_date, posting.posting_number
        moments = [deadline]
        if repeats and now >= deadline:
            moments.append(deadline + ((now - deadline) // repeat + 1) * repeat)
        if item.held and item.held_until is not None:
            moments.append(item.held_until)
        if _can_select(posting, cancel):
            moments.append(deadline + cancel.overdue_for)
        calendar = item.calendar
        if calendar is not None:  # at_risk: from the last closing before the deadline
            since = at_risk_since(calendar, deadline)
            if (
                since is not None
                and now < since
                and (best is None or since < best)
                and (number, Event.AT_RISK, key.at_risk_step(deadline)) not in fired
            ):
                moments.append(since)
        working = calendar if rules.remind_in == "working" else None
        after = None if working is None else working_steps_crossed_after(working, deadline, steps)
        for index, step in enumerate(steps):
            moment = (deadline - step if after is None else after[index]) + _TICK
            # the ledger is looked up only for a moment that would be the answer
            if (
                now < moment
                and (best is None or moment < best)
                and (number, Event.REMINDER, key.reminder_step(step, deadline)) not in fired
            ):
                moments.append(moment)
        for moment in moments:
            if now < moment and (best is None or moment < best):
                best = moment
    return best
