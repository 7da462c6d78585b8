"""The deadline policy with working calendars (issue 19): `at_risk` at the last closing before
a deadline, `remind_in = "working"` reminder steps, their wake-ups, and cancellation that keeps
counting clock time. Tables on a Moscow office week, then hypothesis properties for any
calendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.models import Posting
from daemon.policy import CancelRules, Decisions, Rules, Watched, decide, next_wakeup
from daemon.policy_keys import at_risk_step, reminder_step, would_cancel_step
from daemon.worktime import Calendar, working_time
from tests.unit.test_worktime_properties import calendars, moments

MSK = ZoneInfo("Europe/Moscow")
OFFICE = Calendar("office", MSK)  # Mon-Fri 09:00-18:00 Moscow time
NEVER = Calendar("never", MSK, workdays=frozenset())
H = timedelta(hours=1)
TICK = timedelta(microseconds=1)


def msk(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Moscow wall-clock time in March 2027 (the 12th is a Friday, the 15th a Monday)."""
    return datetime(2027, 3, day, hour, minute, second, tzinfo=MSK).astimezone(UTC)


FRI_CLOSING = msk(12, 18)
MON_0900, MON_1000 = msk(15, 9), msk(15, 10)
WORKING = Rules(remind_in="working")


def posting(deadline: datetime, number: str = "1-1", **fields: Any) -> Posting:
    base: dict[str, Any] = {
        "posting_number": number,
        "status": "awaiting_packaging",
        "shipment_date": deadline,
        "available_actions": ("cancel", "ship"),
        "warehouse_id": 7,
    }
    return Posting(**(base | fields))


def watched(deadline: datetime, calendar: Calendar | None = OFFICE, **fields: Any) -> Watched:
    return Watched(posting(deadline, **fields), calendar=calendar)


def events(decisions: Decisions) -> list[tuple[str, str]]:
    return [(alert.event, alert.step) for alert in decisions.alerts]


def at_risk(deadline: datetime, number: str = "1-1") -> tuple[str, str, str]:
    return (number, "at_risk", at_risk_step(deadline))


@pytest.mark.parametrize(
    ("now", "fires"),
    [
        (msk(12, 17, 59, 59), False),
        (FRI_CLOSING - TICK, False),
        (FRI_CLOSING, True),
        (msk(13, 12), True),  # first seen on Saturday: at once
        (MON_0900 - TICK, True),
        (MON_0900, False),  # the deadline: overdue covers it
    ],
    ids=[
        "a second before the closing",
        "a tick before",
        "at the closing",
        "on saturday",
        "a tick before the deadline",
        "at the deadline",
    ],
)
def test_at_risk_fires_from_fridays_closing_for_a_posting_due_before_mondays_opening(
    now: datetime, fires: bool
) -> None:
    decisions = decide([watched(MON_0900)], now, Rules())
    assert (("at_risk", at_risk_step(MON_0900)) in events(decisions)) is fires
    if fires:
        (alert,) = [a for a in decisions.alerts if a.event == "at_risk"]
        assert alert.reason.startswith(
            "no working time left: the warehouse is closed until after the deadline"
        )
        assert "calendar office" in alert.reason and "2027-03-12T15:00:00Z" in alert.reason


def test_at_risk_fires_once_per_posting_and_deadline_and_again_for_a_moved_one() -> None:
    now = msk(13, 12)
    assert not [a for a in decide([watched(MON_0900)], now, Rules(), {at_risk(MON_0900)}).alerts
                if a.event == "at_risk"]  # fmt: skip
    moved = msk(15, 8)  # still before Monday's opening: at risk again, under its own key
    item = Watched(posting(moved), previous_shipment_date=MON_0900, calendar=OFFICE)
    decisions = decide([item], now, Rules(), {at_risk(MON_0900)})
    assert ("at_risk", at_risk_step(moved)) in events(decisions)


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (watched(MON_1000), "the warehouse works from 09:00 to the 10:00 deadline"),
        (watched(msk(12, 18)), "due at the closing itself: open right up to the deadline"),
        (watched(MON_0900, calendar=None), "no calendar: clock time only"),
    ],
    ids=["working hour left on monday", "due at the closing", "no calendar"],
)
def test_no_at_risk_when_working_time_is_left_up_to_the_deadline_or_no_calendar(
    item: Watched, why: str
) -> None:
    deadline = item.posting.shipment_date
    for now in (FRI_CLOSING, msk(13, 12), deadline - TICK):
        assert "at_risk" not in [a.event for a in decide([item], now, Rules()).alerts], why
    assert next_wakeup([item], msk(12, 10), Rules(), set()) != FRI_CLOSING


def test_a_warehouse_that_never_works_is_at_risk_at_once() -> None:
    decisions = decide([watched(MON_1000, calendar=NEVER)], msk(10, 12), Rules())
    assert ("at_risk", at_risk_step(MON_1000)) in events(decisions)


def test_a_holiday_monday_moves_the_risk_to_fridays_closing_for_a_tuesday_morning_deadline() -> (
    None
):
    # a plain set: a calendar that cannot be hashed is not cached, and works the same
    holiday = Calendar("office", MSK, holidays={date(2027, 3, 15)})
    tuesday = msk(16, 8, 30)
    assert "at_risk" in [a.event for a in decide([watched(tuesday, holiday)], FRI_CLOSING,
                                                 Rules()).alerts]  # fmt: skip
    assert next_wakeup([watched(tuesday, holiday)], msk(12, 12), Rules(), set()) == FRI_CLOSING


def test_the_wakeup_falls_exactly_on_the_closing_and_moves_on_once_at_risk_fired() -> None:
    item = watched(MON_0900)
    assert next_wakeup([item], msk(12, 10), Rules(), set()) == FRI_CLOSING
    # fired: the next moment is the 24h clock reminder (Sunday 09:00 Moscow time)
    assert (
        next_wakeup([item], FRI_CLOSING, Rules(), {at_risk(MON_0900)}) == MON_0900 - 24 * H + TICK
    )


# ---------------------------------------------------------------- remind_in = "working"


@pytest.mark.parametrize(
    ("now", "fired", "step"),
    [
        (msk(10, 12, 59, 59), (), None),
        (msk(10, 13) + TICK, (), "24h"),  # Wed 13:00: 5h + Thu 9h + Fri 9h + Mon 1h = 24h
        (msk(12, 15), ("24h",), None),  # exactly 4h of working time left
        (msk(12, 15) + TICK, ("24h",), "4h"),  # Fri 15:00-18:00, then Monday 09:00-10:00
        (msk(14, 12), ("24h", "4h"), None),  # Sunday: exactly 1h left (Monday's first hour)
        (MON_0900 + TICK, ("24h", "4h"), "1h"),
    ],
    ids=[
        "wednesday before 13:00",
        "wednesday 13:00",
        "friday 15:00",
        "friday after 15:00",
        "sunday",
        "monday after 09:00",
    ],
)
def test_working_reminder_steps_count_the_warehouse_hours(
    now: datetime, fired: tuple[str, ...], step: str | None
) -> None:
    keys = {("1-1", "reminder", reminder_step(_step(s), MON_1000)) for s in fired}
    decisions = decide([watched(MON_1000)], now, WORKING, keys)
    reminders = [a for a in decisions.alerts if a.event == "reminder"]
    if step is None:
        assert reminders == []
        return
    (reminder,) = reminders
    assert reminder.step == reminder_step(_step(step), MON_1000)
    assert "of working time left" in reminder.reason and "calendar office" in reminder.reason
    assert f"under the {step} working-time reminder step" in reminder.reason


def _step(text: str) -> timedelta:
    return {"24h": 24 * H, "4h": 4 * H, "1h": H}[text]


def test_clock_reminders_stay_for_the_default_and_for_postings_without_a_calendar() -> None:
    now = msk(14, 10) + TICK  # Sunday 10:00 Moscow: 24h of clock time left to Monday 10:00
    for rules, calendar in ((Rules(), OFFICE), (WORKING, None)):
        decisions = decide([watched(MON_1000, calendar=calendar)], now, rules)
        assert [a.step for a in decisions.alerts if a.event == "reminder"] == [
            reminder_step(24 * H, MON_1000)
        ]
    # counted in working time, Sunday morning is past the 4h step already: one reminder for
    # the smallest crossed step, the bigger one recorded silently
    decisions = decide([watched(MON_1000)], now, WORKING)
    assert [a.step for a in decisions.alerts if a.event == "reminder"] == [
        reminder_step(4 * H, MON_1000)
    ]
    assert {k.step for k in decisions.mark_done} == {reminder_step(24 * H, MON_1000)}


def test_working_reminders_wake_at_their_instant_not_at_the_clock_step() -> None:
    after_24h = {("1-1", "reminder", reminder_step(24 * H, MON_1000))}
    assert next_wakeup([watched(MON_1000)], msk(11, 12), WORKING, after_24h) == (msk(12, 15) + TICK)
    assert next_wakeup([watched(MON_1000)], msk(9, 12), WORKING, set()) == msk(10, 13) + TICK
    # clock time: D - 24h
    assert next_wakeup([watched(MON_1000)], msk(9, 12), Rules(), set()) == MON_1000 - 24 * H + TICK


def test_a_calendar_that_never_works_crosses_every_working_step_at_once() -> None:
    decisions = decide([watched(MON_1000, calendar=NEVER)], msk(1, 12), WORKING)
    assert [a.step for a in decisions.alerts if a.event == "reminder"] == [
        reminder_step(H, MON_1000)
    ]


# ---------------------------------------------------------------- cancellation: clock time


@pytest.mark.parametrize("rules", [Rules(), WORKING], ids=["clock", "working"])
@pytest.mark.parametrize("calendar", [OFFICE, NEVER, None], ids=["office", "never", "none"])
def test_cancel_selection_counts_clock_time_whatever_the_calendar(
    rules: Rules, calendar: Calendar | None
) -> None:
    rules = replace(rules, cancel=CancelRules(enabled=True, overdue_for=48 * H))
    item = watched(MON_0900, calendar=calendar)
    assert decide([item], MON_0900 + 48 * H - TICK, rules).selected == ()
    (selected,) = decide([item], MON_0900 + 48 * H, rules).selected
    assert selected.step == would_cancel_step(MON_0900)
    fired = {(item.posting.posting_number, e, s) for e, s in (
        ("reminder", reminder_step(step, MON_0900)) for step in (H, 4 * H, 24 * H))}  # fmt: skip
    fired |= {("1-1", "overdue", f"#{k}@2027-03-15T06:00:00Z") for k in range(5)}
    fired |= {at_risk(MON_0900)}
    rules = replace(rules, overdue_repeat=timedelta(0))
    assert next_wakeup([item], MON_0900 + H, rules, fired) == MON_0900 + 48 * H


# ---------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, st.integers(1, 10 * 86400))
def test_at_risk_fires_exactly_when_no_working_time_is_left_before_the_deadline(
    calendar: Calendar, now: datetime, ahead: int
) -> None:
    deadline = now + timedelta(seconds=ahead)
    fired = "at_risk" in [
        a.event for a in decide([watched(deadline, calendar)], now, Rules()).alerts
    ]
    assert fired == (working_time(calendar, now, deadline) == timedelta(0))


@settings(max_examples=200, deadline=None)
@given(
    calendars(),
    moments,
    st.integers(1, 10 * 86400),
    st.lists(st.integers(60, 3 * 86400), min_size=1, max_size=3),
)
def test_a_working_step_is_crossed_exactly_when_less_working_time_is_left(
    calendar: Calendar, now: datetime, ahead: int, seconds: list[int]
) -> None:
    deadline = now + timedelta(seconds=ahead)
    rules = Rules(remind_before=tuple(timedelta(seconds=s) for s in seconds), remind_in="working")
    decisions = decide([watched(deadline, calendar)], now, rules)
    left = working_time(calendar, now, deadline)
    crossed = sorted(step for step in rules.steps if left < step)
    alerted = [a.step for a in decisions.alerts if a.event == "reminder"]
    assert alerted == ([reminder_step(crossed[0], deadline)] if crossed else [])
    assert {k.step for k in decisions.mark_done} == {
        reminder_step(step, deadline) for step in crossed[1:]
    }


@settings(max_examples=100, deadline=None)
@given(calendars(), moments, st.integers(1, 10 * 86400))
def test_the_next_wakeup_is_never_after_a_pending_at_risk_or_working_step(
    calendar: Calendar, now: datetime, ahead: int
) -> None:
    deadline = now + timedelta(seconds=ahead)
    item = watched(deadline, calendar)
    fired = {
        (k.posting_number, k.event, k.step) for k in decide([item], now, WORKING).ledger_keys()
    }
    wake = next_wakeup([item], now, WORKING, fired)
    assert wake is not None and now < wake <= deadline
    # nothing new can be decided strictly before the wake-up
    just_before = wake - TICK
    if just_before > now:
        assert decide([item], just_before, WORKING, fired).alerts == ()


def test_hours_of_a_calendar_are_wall_clock_times() -> None:
    assert Calendar("x", MSK, hours=((time(9), time(18)),)).spans(date(2027, 3, 12)) == [
        (msk(12, 9), FRI_CLOSING)
    ]
