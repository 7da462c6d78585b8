"""The policy's settings for one account: `Rules` and `CancelRules`, with their defaults
(CONTRACT section 3), and the status vocabulary the rules are judged against.

The one definition of each setting's default: the config's `[policy.cancel]` model takes its
defaults from `CancelRules()` and builds CancelRules field by field from its own fields
(`daemon.config`), so a setting is named, defaulted and used once.

PURE: imports only `daemon.models` and the standard library.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from daemon.models import cancel_message_problem

__all__ = [
    "ESCALATION_LEVELS",
    "KNOWN_STATUSES",
    "NO_CANCEL_SUBSTATUSES",
    "REMIND_IN",
    "CancelRules",
    "Rules",
    "escalate_after_problem",
]

ESCALATION_LEVELS = 2  # `escalate_after` has a duration per level above 0: at most two

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
# How `remind_before` steps count time: clock time, or the working time of the posting's
# warehouse calendar (clock time where no calendar applies).
REMIND_IN = ("clock", "working")


def escalate_after_problem(durations: Sequence[timedelta]) -> str | None:
    """What makes `durations` no `escalate_after` list (None when it is one): at most
    ESCALATION_LEVELS positive durations, each longer than the one before (both are counted
    from the same first alert)."""
    if len(durations) > ESCALATION_LEVELS:
        return (
            f"has {len(durations)} durations; give at most {ESCALATION_LEVELS} (level 1, then "
            "level 2)"
        )
    if any(after <= timedelta(0) for after in durations):
        return "durations must be positive"
    if any(later <= earlier for earlier, later in itertools.pairwise(durations)):
        return "must grow: level 2 comes later than level 1 (both count from the first alert)"
    return None


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
    respect_advice: bool = True  # a posting the ship-or-cancel advice says to ship is not cancelled
    reason_ids: tuple[int, ...] = ()  # acceptable reasons in order; () = (reason_id,)

    def __post_init__(self) -> None:
        if self.overdue_for < timedelta(0) or self.max_per_cycle < 0:
            raise ValueError("overdue_for and max_per_cycle must not be negative")
        if not 0 <= self.max_share <= 1:
            raise ValueError(f"max_share must be between 0 and 1, not {self.max_share}")
        for reason_id in self.reasons:
            problem = cancel_message_problem(reason_id, self.reason_message)
            if problem is not None:
                raise ValueError(f"reason_message {problem}")

    @property
    def reasons(self) -> tuple[int, ...]:
        """The cancel reasons to use, in order of preference: the first one Ozon allows for a
        posting is sent (`reason_ids`, else `reason_id` alone)."""
        return self.reason_ids or (self.reason_id,)


@dataclass(frozen=True)
class Rules:
    """`[policy]` of one account (per-account overrides already applied by the config)."""

    watch_statuses: frozenset[str] = frozenset({"awaiting_packaging", "awaiting_deliver"})
    remind_before: tuple[timedelta, ...] = tuple(timedelta(hours=h) for h in (24, 4, 1))
    overdue_repeat: timedelta = timedelta(hours=12)
    remind_in: str = "clock"  # "working": remind_before counts the warehouse's working time
    cancel: CancelRules = field(default_factory=CancelRules)
    # After how long an unacknowledged ladder alert goes to the level-1, then level-2 routes
    # (counted from the alert; daemon.escalation). Empty: no escalation.
    escalate_after: tuple[timedelta, ...] = ()
    tariff_warn_before: timedelta = timedelta(hours=2)  # "0s": no tariff_step warnings

    def __post_init__(self) -> None:
        if self.remind_in not in REMIND_IN:
            raise ValueError(
                f"remind_in must be one of {', '.join(REMIND_IN)}, not {self.remind_in!r}"
            )
        if any(step <= timedelta(0) for step in self.remind_before):
            raise ValueError("every remind_before step must be positive")
        if self.overdue_repeat < timedelta(0) or self.tariff_warn_before < timedelta(0):
            raise ValueError("overdue_repeat and tariff_warn_before must not be negative")
        problem = escalate_after_problem(self.escalate_after)
        if problem is not None:
            raise ValueError(f"escalate_after {problem}")

    @cached_property  # read for every posting of every cycle
    def steps(self) -> tuple[timedelta, ...]:
        """The reminder steps, smallest first, without duplicates."""
        return tuple(sorted(set(self.remind_before)))
