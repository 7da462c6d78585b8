"""The alert path: every event name, and (in `daemon.alerts.batch`) the one place that turns
decisions into ledger keys and outbox rows, committed with the change that caused them.

    decision (cycle, cancel executor, digest, key check)
        -> AlertBatch.add / .note / .mark                      in memory, for one transaction
        -> alerts.batch.batch(store, account, now) commits it  with the state change, as
           ledger keys + staged outbox rows                    (or final rows for one-off alerts)
        -> alerts.batch.release(...) at the end of the cycle   one outbox row per account,
                                                               event and cycle, with its routes
        -> notify.outbox delivers                              (a separate step, as healthchecks'
                                                               `sendalerts` does)

A process that dies between a commit and its release loses nothing: the next cycle of the
account releases what is staged. This package's `__init__` is PURE (standard library only), so
the policy and the config can name events; `batch` imports the store and the models.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EVENTS", "RESERVED", "URGENT", "Event", "Mark"]


class Event(StrEnum):
    """Every event an alert can be about (CONTRACT sections 4 and 7). A member equals its
    name as a string, so stored rows, routes' `events` lists and payloads keep plain text."""

    REMINDER = "reminder"
    OVERDUE = "overdue"
    WOULD_CANCEL = "would_cancel"
    CANCELLED = "cancelled"
    CANCEL_FAILED = "cancel_failed"
    DEADLINE_CHANGED = "deadline_changed"
    CANCELLED_ELSEWHERE = "cancelled_elsewhere"
    API_ERROR = "api_error"
    RECOVERED = "recovered"
    KEY_EXPIRING = "key_expiring"
    DIGEST = "digest"
    # The second round's events (CONTRACT section 7), named here before they are sent.
    AT_RISK = "at_risk"
    TARIFF_STEP = "tariff_step"
    NEEDS_DATA = "needs_data"
    DATABASE_UNWRITABLE = "database_unwritable"


RESERVED: frozenset[Event] = frozenset()
"""Events of the contract that nothing sends yet; routes cannot ask for them until one does."""

EVENTS: tuple[str, ...] = tuple(event.value for event in Event if event not in RESERVED)
"""The events a `[[notify]]` route can take, in the contract's order (its default: all)."""

URGENT = frozenset(
    {
        Event.OVERDUE,
        Event.CANCELLED,
        Event.CANCEL_FAILED,
        Event.API_ERROR,
        Event.AT_RISK,
        Event.DATABASE_UNWRITABLE,
    }
)
"""Events that go at once, quiet hours or not."""


class Mark(StrEnum):
    """Ledger entries that are no alert: things done once per posting, field or day."""

    UNREADABLE = "unreadable"  # a posting field Ozon sent in a shape we cannot read (logged once)
    KEY_CHECKED = "key_checked"  # the account's key expiry was asked for that local day
    PRUNED = "pruned"  # the database was pruned that local day
    RATINGS_READ = "ratings_read"  # the account's ratings and error index were read that day
