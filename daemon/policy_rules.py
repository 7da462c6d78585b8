"""The policy's settings for one account: `Rules` and `CancelRules`, with their defaults
(CONTRACT section 3), and the status vocabulary the rules are judged against.

The one definition of each setting's default: the config's `[policy.cancel]` model takes its
defaults from `CancelRules()` and builds CancelRules field by field from its own fields
(`daemon.config`), so a setting is named, defaulted and used once.

PURE: imports only `daemon.models` and the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from daemon.models import cancel_message_problem

__all__ = ["KNOWN_STATUSES", "NO_CANCEL_SUBSTATUSES", "CancelRules", "Rules"]

# fmt: off
# Ozon's documented statuses (API-FACTS 6.1); any other status is unknown.
KNOWN_STATUSES = frozenset({
    "awaiting_registration", "acceptance_in_progress", "awaiting_approve",
    "awaiting_verification", "awaiting_packaging", "awaiting_deliver", "arbitration",
    "client_arbitration", "delivering", "driver_pickup", "delivered", "cancelled",
    "cancelled_from_split_pending", "not_accepted", "sent_by_seller",
})
# Handed over, on its way, delivered, disputed, cancelled or being split: never cancel these.
NO_CANCEL_SUBSTATUSES = frozenset({
    "posting_transferring_to_delivery", "posting_in_carriage", "posting_driver_pick_up",
    "posting_on_way_to_city", "posting_transferred_to_courier_service",
    "posting_in_courier_service", "posting_on_way_to_pickup_point", "posting_in_pickup_point",
    "posting_conditionally_delivered", "posting_delivered", "posting_received",
    "posting_returned_to_warehouse", "posting_not_in_sort_center", "posting_in_arbitration",
    "posting_in_client_arbitration", "posting_canceled", "posting_split_pending",
    "sent_by_seller",
})
# fmt: on


@dataclass(frozen=True)
class CancelRules:
    """`[policy.cancel]` of one account; defaults as in CONTRACT section 3."""

    enabled: bool = False
    overdue_for: timedelta = timedelta(hours=48)
    statuses: frozenset[str] = frozenset({"awaiting_packaging"})
    reason_id: int = 402
    reason_message: str = "Could not be shipped in time"
    max_per_cycle: int = 5
    max_share: float = 0.2
    respect_advice: bool = True  # read and checked; the advice does not hold back cancels yet

    def __post_init__(self) -> None:
        if self.overdue_for < timedelta(0) or self.max_per_cycle < 0:
            raise ValueError("overdue_for and max_per_cycle must not be negative")
        if not 0 <= self.max_share <= 1:
            raise ValueError(f"max_share must be between 0 and 1, not {self.max_share}")
        problem = cancel_message_problem(self.reason_id, self.reason_message)
        if problem is not None:
            raise ValueError(f"reason_message {problem}")


@dataclass(frozen=True)
class Rules:
    """`[policy]` of one account (per-account overrides already applied by the config)."""

    watch_statuses: frozenset[str] = frozenset({"awaiting_packaging", "awaiting_deliver"})
    remind_before: tuple[timedelta, ...] = tuple(timedelta(hours=h) for h in (24, 4, 1))
    overdue_repeat: timedelta = timedelta(hours=12)
    cancel: CancelRules = field(default_factory=CancelRules)
    tariff_warn_before: timedelta = timedelta(hours=2)  # "0s": no tariff_step warnings

    def __post_init__(self) -> None:
        if any(step <= timedelta(0) for step in self.remind_before):
            raise ValueError("every remind_before step must be positive")
        if self.overdue_repeat < timedelta(0) or self.tariff_warn_before < timedelta(0):
            raise ValueError("overdue_repeat and tariff_warn_before must not be negative")

    @cached_property  # read for every posting of every cycle
    def steps(self) -> tuple[timedelta, ...]:
        """The reminder steps, smallest first, without duplicates."""
        return tuple(sorted(set(self.remind_before)))
