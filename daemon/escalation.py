"""Escalation: an alert nobody acted on goes up a level (CONTRACT section 7, issue 18).

PURE: postings, the time, one account's `Rules`, who acknowledged what and when each ladder
started in -> escalation decisions and the next moment one is due. No I/O, no clock, no
logging; imports only `daemon.models`, `daemon.policy` (what is watched), `daemon.policy_keys`,
`daemon.policy_rules`, `daemon.alerts` (event names) and the standard library.

The ladder of one posting and deadline D (only when `escalate_after` is set):

    start      when the first of its ladder alerts was raised: the reminder of the smallest
               `remind_before` step, or the first `overdue` alert, for D (the ledger's times of
               `ladder_keys`; the caller reads them, `Ladder` takes them)
    level k    at start + escalate_after[k-1] (k = 1, 2; both counted from the start), unless
               the posting is then acknowledged for D, held, or no longer watched (shipped,
               cancelled): one alert to the level-k routes about the posting as it is then
               (`overdue` past D, else `reminder`), saying nobody acknowledged it; once per
               level and deadline (ledger key ("escalated", "k@D"))

A moved deadline starts a new ladder (new keys; an acknowledgement is for the old deadline).
A level whose moment passed while the posting was held fires once the hold is over, if the
posting is still unacknowledged and watched. Levels whose moments passed together (a daemon
that was stopped) fire together, each to its own routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon import policy_keys as key
from daemon.alerts import Event
from daemon.models import LedgerKey, Posting
from daemon.policy import Watched, is_watched
from daemon.policy_keys import format_span, format_step, rfc3339
from daemon.policy_rules import Rules

__all__ = ["Escalation", "Ladder", "ladder_keys"]


@dataclass(frozen=True)
class Escalation:
    """A posting to tell the level-`level` routes about: `event` is what its alert is about
    now (overdue or reminder), `after` the escalate_after step that made it due, `reason`
    goes unchanged into the message and `history` ("level N: ...")."""

    posting: Posting
    level: int
    event: Event
    after: timedelta
    step: str
    reason: str

    @property
    def key(self) -> LedgerKey:
        """The ledger key recording that this level was escalated for this deadline."""
        return LedgerKey(self.posting.posting_number, key.ESCALATED, self.step)


def _keys(posting: Posting, now: datetime, rules: Rules) -> list[LedgerKey]:
    """The ladder-starting keys of one posting that may be recorded by `now`."""
    deadline, number = posting.shipment_date, posting.posting_number
    keys = []
    if rules.steps and deadline - now < rules.steps[0]:
        keys.append(LedgerKey(number, Event.REMINDER, key.reminder_step(rules.steps[0], deadline)))
    if now >= deadline:
        keys.append(LedgerKey(number, Event.OVERDUE, key.overdue_step(0, deadline)))
    return keys


def _climbs(item: Watched, rules: Rules) -> bool:
    """True when the posting can be on a ladder at all."""
    return (
        bool(rules.escalate_after) and item.posting.has_deadline and is_watched(item.posting, rules)
    )


def ladder_keys(watched: Iterable[Watched], now: datetime, rules: Rules) -> list[LedgerKey]:
    """The ledger keys whose recording times start these postings' ladders at `now` (none
    without `escalate_after`): give the caller's ledger times of them to `Ladder`."""
    if not rules.escalate_after:
        return []
    return [k for item in watched if _climbs(item, rules) for k in _keys(item.posting, now, rules)]


class Ladder:
    """The ladders of one account's postings: `rules`, the numbers of the postings
    acknowledged for their current deadline, and `times`, the ledger times of (some of) their
    `ladder_keys` (as plain (posting_number, event, step) tuples)."""

    def __init__(
        self,
        rules: Rules,
        acknowledged: Set[str] = frozenset(),
        times: Mapping[tuple[str, str, str], datetime] | None = None,
    ) -> None:
        self.rules = rules
        self.acknowledged = acknowledged
        self.times = times or {}

    def _start(
        self, item: Watched, now: datetime, known: Set[tuple[str, str, str]] = frozenset()
    ) -> datetime | None:
        """When the posting's ladder started: its ladder keys' earliest ledger time; `now` for
        one recorded only in `known` (decided at `now`, not in the ledger yet); None: none."""
        keys = _keys(item.posting, now, self.rules)
        times = [self.times[k] for k in keys if k in self.times]
        if times:
            return min(times)
        return now if any(k in known for k in keys) else None

    def _open(self, item: Watched, now: datetime) -> bool:
        """True when an escalation of this posting may fire at `now`."""
        return (
            _climbs(item, self.rules)
            and item.posting.posting_number not in self.acknowledged
            and not item.is_held(now)
        )

    def due(
        self,
        watched: Iterable[Watched],
        now: datetime,
        fired: Set[tuple[str, str, str]] = frozenset(),
    ) -> list[Escalation]:
        """The escalations due at the aware `now` and not in `fired` (the ledger keys already
        recorded), soonest deadline first, then by level."""
        out: list[Escalation] = []
        for item in watched:
            if not self._open(item, now):
                continue
            start = self._start(item, now)
            if start is None:
                continue
            posting, deadline = item.posting, item.posting.shipment_date
            for level, after in enumerate(self.rules.escalate_after, start=1):
                step = key.escalation_step(level, deadline)
                if now < start + after or (posting.posting_number, key.ESCALATED, step) in fired:
                    continue
                overdue = now >= deadline
                event = Event.OVERDUE if overdue else Event.REMINDER
                state = (
                    f"overdue by {format_span(now - deadline)}"
                    if overdue
                    else f"{format_span(deadline - now)} left to shipment_date"
                )
                reason = (
                    f"level {level}: not acknowledged {format_span(now - start)} after its first "
                    f"alert (escalate_after {format_step(after)}); {state} "
                    f"(shipment_date {rfc3339(deadline)})"
                )
                out.append(Escalation(posting, level, event, after, step, reason))
        out.sort(key=lambda e: (e.posting.shipment_date, e.posting.posting_number, e.level))
        return out

    def next_moment(
        self,
        watched: Iterable[Watched],
        now: datetime,
        known: Set[tuple[str, str, str]] = frozenset(),
    ) -> datetime | None:
        """The first moment after `now` at which one of these postings escalates, given the
        ledger keys `known` after deciding at `now` (a ladder alert decided at `now` starts
        its ladder at `now`); None if none is pending."""
        best: datetime | None = None
        for item in watched:
            if not _climbs(item, self.rules) or item.posting.posting_number in self.acknowledged:
                continue
            start = self._start(item, now, known)
            if start is None:
                continue
            number, deadline = item.posting.posting_number, item.posting.shipment_date
            for level, after in enumerate(self.rules.escalate_after, start=1):
                moment = start + after
                step = key.escalation_step(level, deadline)
                later = now < moment and (best is None or moment < best)
                if later and (number, key.ESCALATED, step) not in known:
                    best = moment
        return best
