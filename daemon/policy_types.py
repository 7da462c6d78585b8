"""The policy's value types: a posting on watch (`Watched`), one that left it (`Departed`), and
what `daemon.policy.decide` returns (`Decisions`: `AlertDecision`s, ledger keys to mark,
`CancelSelection`s). Re-exported by `daemon.policy`. Pure: imports only `daemon.models`,
`daemon.alerts` (event names), `daemon.worktime` (the calendar type) and the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.alerts import Event
from daemon.models import LedgerKey, Posting
from daemon.worktime import Calendar

__all__ = ["AlertDecision", "CancelSelection", "Decisions", "Departed", "Watched"]


@dataclass(frozen=True)
class Watched:
    """A posting on watch: its current state, its hold and the shipment_date seen before.

    `held` says a hold exists; `held_until` is when it ends (None: until released).
    `previous_shipment_date` is None the first time the posting is seen. `calendar` is the
    working calendar of its warehouse (None: clock time only).
    """

    posting: Posting
    previous_shipment_date: datetime | None = None
    held: bool = False
    held_until: datetime | None = None
    calendar: Calendar | None = None

    def is_held(self, now: datetime) -> bool:
        """True while the hold applies at `now`."""
        return self.held and (self.held_until is None or now < self.held_until)


@dataclass(frozen=True)
class Departed:
    """A posting that left the watch this cycle, in its final state.

    `cancelled_by_us`: the journal shows this daemon cancelled it. `has_parts`: the caller
    knows postings split from it (parts passed to `decide` are found without this flag).
    """

    posting: Posting
    cancelled_by_us: bool = False
    has_parts: bool = False


@dataclass(frozen=True)
class AlertDecision:
    """An event to alert; `reason` goes unchanged into logs and messages."""

    event: Event
    posting: Posting
    step: str
    reason: str

    @property
    def key(self) -> LedgerKey:
        """The ledger key recording that this alert was generated."""
        return LedgerKey(self.posting.posting_number, self.event, self.step)


@dataclass(frozen=True)
class CancelSelection:
    """A posting the cancel rules select, with why; `step` is its `would_cancel` step."""

    posting: Posting
    reason: str
    step: str

    @property
    def key(self) -> LedgerKey:
        """The `would_cancel` ledger key of this selection (reported once)."""
        return LedgerKey(self.posting.posting_number, Event.WOULD_CANCEL, self.step)


@dataclass(frozen=True)
class Decisions:
    """What one account's cycle should do, each tuple soonest deadline first.

    `alerts`: events to send, then record. `mark_done`: ledger keys to record without alerting.
    `selected`: postings the cancel rules select, whether cancelling is enabled or not (the
    executor decides between sending and reporting). `watched`: how many postings are on watch
    (the share breaker's denominator).
    """

    alerts: tuple[AlertDecision, ...]
    mark_done: tuple[LedgerKey, ...]
    selected: tuple[CancelSelection, ...]
    watched: int

    def ledger_keys(self) -> tuple[LedgerKey, ...]:
        """Every key to record: the alerts' keys, then `mark_done`."""
        return tuple(alert.key for alert in self.alerts) + self.mark_done
