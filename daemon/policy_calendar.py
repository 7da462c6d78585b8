"""The deadline policy's working-time rules: reminder steps counted in a warehouse's working time
(`[policy] remind_in = "working"`) and when the `at_risk` alert is due.

PURE, like `daemon.policy` (its only caller): imports only `daemon.worktime`,
`daemon.policy_keys` and the standard library. No I/O, no clock, no logging.

Time semantics (D = shipment_date, W(t) = the working time of the posting's calendar from t to
D, which never grows as t passes):
- reminder for step S with remind_in "working": crossed once W(now) < S, that is strictly after
  `working_time_before(calendar, D, S)` (the latest instant leaving exactly S of working time);
  when that much working time is not found within `worktime.MAX_DAYS` before D, at any time.
  Without a calendar, or with remind_in "clock", the policy keeps clock time: strictly after
  D - S.
- at_risk: due from the last closing before D until D, when that closing is before D: from then
  on W is 0, the warehouse is closed until after the deadline. Never when the warehouse works
  right up to D (nothing is lost before D; the overdue alert comes at D). When the warehouse
  does not work at all within MAX_DAYS before D, at any time.
- cancellation never looks here: Ozon counts clock time, and so does `overdue_for`.

The instants are cached by calendar and deadline: a cycle asks about them for every posting
of a batch, twice (deciding, then for its wake-ups), and many postings share a deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from daemon.policy_keys import format_span, format_step, rfc3339
from daemon.worktime import Calendar, last_closing, working_time, working_time_before

__all__ = [
    "EARLIEST",
    "at_risk_reason",
    "at_risk_since",
    "working_reminder_reason",
    "working_steps_crossed_after",
]

EARLIEST = datetime.min.replace(tzinfo=UTC)
"""The instant before every other: what is due "at any time" is due after it."""
_CACHED = 8192


def working_steps_crossed_after(
    calendar: Calendar, deadline: datetime, steps: tuple[timedelta, ...]
) -> tuple[datetime, ...]:
    """For each of `steps`, the instant after which less than that much of `calendar`'s
    working time is left before `deadline` (the reminder for the step is due strictly after
    it); EARLIEST when that much working time is not found within MAX_DAYS before it."""
    try:
        return _steps_crossed_after(calendar, deadline, steps)
    except TypeError:  # a calendar whose day containers cannot be hashed (a plain set)
        return _steps_crossed_after.__wrapped__(calendar, deadline, steps)


def at_risk_since(calendar: Calendar, deadline: datetime) -> datetime | None:
    """From when a posting due at `deadline` has no working time left: the last closing of
    `calendar` before it, when that is before the deadline; EARLIEST when the warehouse does
    not work within MAX_DAYS before it; None when it works right up to the deadline."""
    try:
        return _at_risk_since(calendar, deadline)
    except TypeError:  # as above
        return _at_risk_since.__wrapped__(calendar, deadline)


@lru_cache(maxsize=_CACHED)
def _steps_crossed_after(
    calendar: Calendar, deadline: datetime, steps: tuple[timedelta, ...]
) -> tuple[datetime, ...]:
    moments = (working_time_before(calendar, deadline, step) for step in steps)
    return tuple(EARLIEST if moment is None else moment for moment in moments)


@lru_cache(maxsize=_CACHED)
def _at_risk_since(calendar: Calendar, deadline: datetime) -> datetime | None:
    closing = last_closing(calendar, deadline)
    if closing is None:
        return EARLIEST
    return closing if closing < deadline else None


def working_reminder_reason(
    calendar: Calendar, now: datetime, deadline: datetime, step: timedelta
) -> str:
    """Why the working-time reminder for `step` fires at `now`, for logs and the journal."""
    working = working_time(calendar, now, deadline)
    return (
        f"{format_span(working)} of working time left ({format_span(deadline - now)} by the "
        f"clock, calendar {calendar.name}) to shipment_date {rfc3339(deadline)}, under the "
        f"{format_step(step)} working-time reminder step"
    )


def at_risk_reason(calendar: Calendar, now: datetime, deadline: datetime) -> str:
    """Why `at_risk` fires at `now` for a posting due at `deadline`."""
    since = at_risk_since(calendar, deadline)
    closed = f" since {rfc3339(since)}" if since is not None and since > EARLIEST else ""
    return (
        "no working time left: the warehouse is closed until after the deadline "
        f"(calendar {calendar.name}, closed{closed}; shipment_date {rfc3339(deadline)}, "
        f"{format_span(deadline - now)} left by the clock)"
    )
