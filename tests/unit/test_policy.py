"""Tables for the deadline policy: boundaries of every event, holds, moves, cancel guards."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.models import Cancellation, Posting
from daemon.policy import (
    CancelRules,
    Decisions,
    Departed,
    Rules,
    Watched,
    decide,
    is_watched,
    limit_per_cycle,
    next_wakeup,
    share_breaker_trips,
)
from daemon.policy_keys import (
    deadline_changed_step,
    format_span,
    format_step,
    overdue_step,
    reminder_step,
    rfc3339,
    would_cancel_step,
)

D = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
Z = "2026-11-26T10:00:00Z"
H = timedelta(hours=1)
S = timedelta(seconds=1)
RULES = Rules()
Key = tuple[str, str, str]


def posting(number: str = "1-1", **fields: Any) -> Posting:
    """A cancellable awaiting_packaging posting due at D, with `fields` changed."""
    base: dict[str, Any] = {
        "posting_number": number,
        "status": "awaiting_packaging",
        "shipment_date": D,
        "available_actions": ("cancel", "ship"),
    }
    return Posting(**(base | fields))


def run(
    items: Iterable[Watched | Posting],
    now: datetime,
    rules: Rules = RULES,
    fired: Set[Key] = frozenset(),
    departed: Iterable[Departed] = (),
) -> Decisions:
    watched = [item if isinstance(item, Watched) else Watched(item) for item in items]
    return decide(watched, now, rules, fired, departed)


def alerted(decisions: Decisions) -> list[tuple[str, str]]:
    return [(alert.event, alert.step) for alert in decisions.alerts]


def marked(decisions: Decisions) -> set[tuple[str, str]]:
    return {(key.event, key.step) for key in decisions.mark_done}


def done(*pairs: tuple[str, str], number: str = "1-1") -> frozenset[Key]:
    return frozenset((number, event, step) for event, step in pairs)


R24, R4, R1 = (("reminder", f"{h}@{Z}") for h in ("24h", "4h", "1h"))
O0, O1 = ("overdue", f"#0@{Z}"), ("overdue", f"#1@{Z}")


@pytest.mark.parametrize(
    ("left", "fired", "alerts", "marks"),
    [
        (25 * H, set(), [], set()),
        (24 * H, set(), [], set()),
        (24 * H - S, set(), [R24], set()),
        (4 * H + S, {R24}, [], set()),
        (4 * H, {R24}, [], set()),
        (4 * H - S, {R24}, [R4], set()),
        (H - S, {R24, R4}, [R1], set()),
        (30 * 60 * S, set(), [R1], {R24, R4}),
        (3 * H, set(), [R4], {R24}),
        (3 * H, {R4}, [], {R24}),
        (30 * 60 * S, {R24, R4, R1}, [], set()),
    ],
    ids=[
        "25h left: nothing yet",
        "exactly 24h left: not below the step yet",
        "one second under 24h: the 24h reminder",
        "one second over 4h: nothing",
        "exactly 4h left: nothing",
        "one second under 4h: the 4h reminder",
        "one second under 1h: the 1h reminder",
        "first seen with 30m left: one reminder for the smallest step, the others marked",
        "two steps crossed at once: the smaller alerts, the larger is marked",
        "smallest crossed step already sent: the larger one is only marked",
        "already handled: nothing again",
    ],
)
def test_policy_reminds_once_when_time_left_drops_below_a_step(
    left: timedelta, fired: set[tuple[str, str]], alerts: list[Any], marks: set[Any]
) -> None:
    decisions = run([posting()], D - left, fired=done(*fired))
    assert alerted(decisions) == alerts
    assert marked(decisions) == marks
    assert decisions.selected == ()


@pytest.mark.parametrize(
    ("after", "fired", "repeat", "alerts", "marks"),
    [
        (-S, {R24, R4}, 12 * H, [R1], set()),
        (timedelta(0), {R24, R4, R1}, 12 * H, [O0], set()),
        (S, {R24, R4, R1}, 12 * H, [O0], set()),
        (S, {R24}, 12 * H, [O0], {R4, R1}),
        (12 * H - S, {R24, R4, R1, O0}, 12 * H, [], set()),
        (12 * H, {R24, R4, R1, O0}, 12 * H, [O1], set()),
        (13 * H, set(), 12 * H, [O1], {O0, R24, R4, R1}),
        (3 * 24 * H, {R24, R4, R1, O0}, 12 * H, [("overdue", f"#6@{Z}")], set()),
        (5 * 24 * H, {R24, R4, R1, O0}, timedelta(0), [], set()),
    ],
    ids=[
        "one second before the deadline: the last reminder, not overdue",
        "exactly at the deadline: overdue",
        "one second after the deadline: overdue",
        "reminders crossed while overdue are only marked",
        "one second before the first repeat: nothing",
        "exactly one overdue_repeat later: repeat #1",
        "first seen 13h late: repeat #1 alone, #0 and the reminders marked",
        "three days late: the current repeat only",
        "overdue_repeat 0s: only once",
    ],
)
def test_policy_alerts_overdue_at_the_deadline_and_every_overdue_repeat(
    after: timedelta, fired: set[Any], repeat: timedelta, alerts: list[Any], marks: set[Any]
) -> None:
    rules = replace(RULES, overdue_repeat=repeat)
    not_cancellable = posting(available_actions=("ship",))
    decisions = run([not_cancellable], D + after, rules, fired=done(*fired))
    assert alerted(decisions) == alerts
    assert marked(decisions) == marks


@pytest.mark.parametrize(
    ("hold", "after", "fired", "alerts"),
    [
        ({"held": True}, S, {R24, R4, R1}, [O0]),
        ({"held": True}, 13 * H, {R24, R4, R1, O0}, []),
        ({"held": True}, 13 * H, {R24, R4, R1}, [O0]),
        ({"held": True}, 25 * H, {R24, R4, R1, O0, O1}, []),
        ({"held": True, "held_until": D + 26 * H}, 25 * H, {R24, R4, R1, O0, O1}, []),
        ({"held": True, "held_until": D + 13 * H}, 13 * H, {R24, R4, R1, O0}, [O1]),
        ({"held": False, "held_until": D + 99 * H}, 13 * H, {R24, R4, R1, O0}, [O1]),
    ],
    ids=[
        "held posting still gets the first overdue alert",
        "held posting gets no repeat",
        "held posting first seen late gets one overdue alert",
        "held after repeats: no new 'first' overdue alert",
        "hold ending after now still holds",
        "hold that ended at now: repeats resume",
        "held_until without a hold: not held",
    ],
)
def test_policy_silences_overdue_repeats_of_a_held_posting(
    hold: dict[str, Any], after: timedelta, fired: set[Any], alerts: list[Any]
) -> None:
    item = Watched(posting(), **hold)
    decisions = run([item], D + after, fired=done(*fired))
    assert alerted(decisions) == alerts
    held = item.is_held(D + after)
    assert all(alert.reason.endswith("; held") is held for alert in decisions.alerts)


def moved(new: datetime) -> tuple[str, str]:
    return ("deadline_changed", f"{Z}->{rfc3339(new)}")


def step(event: str, step: str, deadline: datetime) -> tuple[str, str]:
    return (event, f"{step}@{rfc3339(deadline)}")


@pytest.mark.parametrize(
    ("new", "now", "fired", "alerts"),
    [
        (D + 24 * H, D - 3 * H, {R24, R4}, [moved(D + 24 * H)]),
        (D + 2 * H, D - 3 * H, {R24, R4}, [moved(D + 2 * H), step("reminder", "24h", D + 2 * H)]),
        (D - 18 * H, D - 20 * H, {R24}, [moved(D - 18 * H), step("reminder", "4h", D - 18 * H)]),
        (D - 22 * H, D - 20 * H, {R24}, [moved(D - 22 * H), step("overdue", "#0", D - 22 * H)]),
        (D + 24 * H, D - 3 * H, {R24, R4, moved(D + 24 * H)}, []),
        (D, D - 3 * H, {R24, R4}, []),
    ],
    ids=[
        "moved a day later: deadline_changed, no reminder yet",
        "moved 2h later: steps re-armed against the new deadline",
        "moved earlier: one reminder for the smallest step crossed against the new deadline",
        "moved earlier into the past: overdue against the new deadline",
        "the same move already reported: nothing",
        "unchanged deadline: nothing",
    ],
)
def test_policy_reports_a_moved_deadline_and_rearms_its_steps(
    new: datetime, now: datetime, fired: set[Any], alerts: list[Any]
) -> None:
    item = Watched(posting(shipment_date=new), previous_shipment_date=D)
    decisions = run([item], now, fired=done(*fired))
    assert alerted(decisions) == alerts
    later = "later" if new > D else "earlier"
    assert all(later in a.reason for a in decisions.alerts if a.event == "deadline_changed")


CANCELLABLE = {"held": False}


@pytest.mark.parametrize(
    ("fields", "hold", "after", "selected"),
    [
        ({}, {}, 48 * H - S, False),
        ({}, {}, 48 * H, True),
        ({}, {}, 48 * H + S, True),
        ({"status": "awaiting_deliver"}, {}, 99 * H, False),
        ({"status": "new_ozon_status"}, {}, 99 * H, False),
        ({"available_actions": ("ship",)}, {}, 99 * H, False),
        ({"available_actions": ("cancel", "ship_async_in_process")}, {}, 99 * H, False),
        ({"delivering_date": D + H}, {}, 99 * H, False),
        ({"substatus": "posting_transferring_to_delivery"}, {}, 99 * H, False),
        ({"substatus": "posting_in_carriage"}, {}, 99 * H, False),
        ({"substatus": "posting_driver_pick_up"}, {}, 99 * H, False),
        ({"substatus": "posting_in_courier_service"}, {}, 99 * H, False),
        ({"substatus": "posting_split_pending"}, {}, 99 * H, False),
        ({}, {"held": True}, 99 * H, False),
        ({}, {"held": True, "held_until": D + 99 * H}, 99 * H, True),
        ({"requirements": ("products_requiring_gtd",)}, {}, 99 * H, True),
    ],
    ids=[
        "one second before overdue_for: not selected",
        "exactly overdue_for past the deadline: selected",
        "one second after overdue_for: selected",
        "status outside cancel.statuses: never",
        "unknown status, even when listed in cancel.statuses: never",
        "cancel not among available_actions: never",
        "async assembly in progress: never",
        "already handed over (delivering_date): never",
        "being transferred to delivery: never",
        "in a carriage: never",
        "picked up by the driver: never",
        "in delivery: never",
        "being split: never",
        "held: never",
        "hold expired: selected",
        "unmet requirements do not matter",
    ],
)
def test_policy_selects_for_cancelling_only_what_every_guard_allows(
    fields: dict[str, Any], hold: dict[str, Any], after: timedelta, selected: bool
) -> None:
    statuses = frozenset({"awaiting_packaging", "new_ozon_status"})
    rules = replace(RULES, cancel=CancelRules(enabled=True, statuses=statuses))
    decisions = run([Watched(posting(**fields), **hold)], D + after, rules)
    assert [s.posting.posting_number for s in decisions.selected] == (["1-1"] if selected else [])
    if selected:
        assert decisions.selected[0].reason.startswith("overdue by ")
        assert "over overdue_for 48h" in decisions.selected[0].reason


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_policy_selects_whether_cancelling_is_enabled_or_not_and_never_reports_it_itself(
    enabled: bool,
) -> None:
    """Dry run is decided once, by the executor at the side effect: the policy only selects."""
    rules = replace(RULES, cancel=CancelRules(enabled=enabled))
    decisions = run([posting()], D + 50 * H, rules)
    assert [s.posting.posting_number for s in decisions.selected] == ["1-1"]
    assert decisions.selected[0].key == ("1-1", "would_cancel", f"@{Z}")
    assert "would_cancel" not in [event for event, _ in alerted(decisions)]


def test_policy_alerts_an_unknown_status_but_never_selects_it() -> None:
    strange = posting(status="awaiting_teleport")
    rules = replace(RULES, cancel=CancelRules(enabled=True, statuses=frozenset({strange.status})))
    assert alerted(run([strange], D - 30 * 60 * S, rules)) == [R1]
    late = run([strange], D + 99 * H, rules)
    assert ("overdue", f"#8@{Z}") in alerted(late)
    assert late.selected == ()
    assert late.watched == 1


def test_policy_ignores_a_known_status_outside_watch_statuses() -> None:
    gone = posting(status="delivering")
    assert not is_watched(gone, RULES)
    decisions = run([gone], D + 99 * H)
    assert (decisions.alerts, decisions.mark_done, decisions.selected) == ((), (), ())
    assert decisions.watched == 0


def cancelled(number: str = "1-1", **fields: Any) -> Posting:
    who = Cancellation(reason="Buyer changed their mind", initiator="Клиент")
    return posting(number, status="cancelled", cancellation=who, **fields)


@pytest.mark.parametrize(
    ("gone", "watched", "fired", "reported"),
    [
        (Departed(cancelled()), [], set(), True),
        (Departed(cancelled(), cancelled_by_us=True), [], set(), False),
        (Departed(posting(status="cancelled_from_split_pending")), [], set(), False),
        (Departed(cancelled(substatus="posting_split_pending")), [], set(), False),
        (Departed(cancelled()), [posting("1-2", parent_posting_number="1-1")], set(), False),
        (Departed(cancelled(), has_parts=True), [], set(), False),
        (Departed(posting(status="delivering")), [], set(), False),
        (Departed(cancelled()), [], {("cancelled_elsewhere", "cancelled")}, False),
    ],
    ids=[
        "cancelled by the buyer: reported",
        "cancelled by this daemon: not reported here",
        "cancelled because it was split: not reported",
        "split pending: not reported",
        "its parts are watched: not reported",
        "the caller knows its parts: not reported",
        "shipped, not cancelled: nothing",
        "already reported: nothing",
    ],
)
def test_policy_reports_cancellations_made_elsewhere_except_splits(
    gone: Departed, watched: list[Posting], fired: set[Any], reported: bool
) -> None:
    decisions = run(watched, D - 30 * H, fired=done(*fired), departed=[gone])
    events = [(a.event, a.posting.posting_number) for a in decisions.alerts]
    assert (("cancelled_elsewhere", "1-1") in events) is reported
    if reported:
        assert decisions.alerts[0].reason == (
            "cancelled outside ozon-sync by Клиент: Buyer changed their mind"
        )


def test_policy_applies_each_accounts_own_rules() -> None:
    shop_1 = Rules()
    shop_2 = Rules(
        remind_before=(2 * H,),
        overdue_repeat=timedelta(0),
        cancel=CancelRules(enabled=True, overdue_for=12 * H),
    )
    assert alerted(run([posting()], D - 3 * H, shop_1)) == [R4]
    assert alerted(run([posting()], D - 3 * H, shop_2)) == []
    assert alerted(run([posting()], D - 90 * 60 * S, shop_2)) == [("reminder", f"2h@{Z}")]
    assert run([posting()], D + 13 * H, shop_1).selected == ()
    assert len(run([posting()], D + 13 * H, shop_2).selected) == 1
    assert alerted(run([posting()], D + 13 * H, shop_2, fired=done(O0))) == []


def test_policy_orders_decisions_soonest_deadline_first_then_by_number() -> None:
    items = [
        posting("3-1", shipment_date=D - 60 * H),
        posting("2-1", shipment_date=D - 50 * H),
        posting("1-1", shipment_date=D - 60 * H),
    ]
    decisions = run(items, D)
    numbers = [a.posting.posting_number for a in decisions.alerts]
    assert numbers == ["1-1", "3-1", "2-1"]
    assert [a.event for a in decisions.alerts] == ["overdue"] * 3
    assert [s.posting.posting_number for s in decisions.selected] == ["1-1", "3-1", "2-1"]
    assert decisions == run(reversed(items), D)


@pytest.mark.parametrize(
    ("selected", "watched", "max_share", "trips"),
    [
        (2, 2, 0.2, False),
        (3, 15, 0.2, False),
        (3, 14, 0.2, True),
        (5, 100, 0.2, False),
        (3, 0, 0.2, True),
        (3, 3, 1.0, False),
    ],
    ids=[
        "fewer than 3 never trips",
        "exactly max_share does not trip",
        "more than max_share trips",
        "a small share does not trip",
        "nothing watched trips",
        "max_share 1 never trips",
    ],
)
def test_share_breaker_trips_at_3_or_more_and_over_max_share(
    selected: int, watched: int, max_share: float, trips: bool
) -> None:
    assert share_breaker_trips(selected, watched, max_share) is trips


def test_limit_per_cycle_keeps_the_first_ones_for_this_cycle() -> None:
    assert limit_per_cycle("abcde", 2) == (("a", "b"), ("c", "d", "e"))
    assert limit_per_cycle("ab", 5) == (("a", "b"), ())
    assert limit_per_cycle("ab", 0) == ((), ("a", "b"))


def test_ledger_steps_have_the_documented_formats() -> None:
    moscow = timezone(timedelta(hours=3))
    assert reminder_step(4 * H, D) == "4h@2026-11-26T10:00:00Z"
    assert reminder_step(90 * 60 * S, D.astimezone(moscow)) == "1h30m@2026-11-26T10:00:00Z"
    assert overdue_step(2, D) == "#2@2026-11-26T10:00:00Z"
    assert deadline_changed_step(D, D + H) == f"{Z}->2026-11-26T11:00:00Z"
    assert would_cancel_step(D) == f"@{Z}"
    assert rfc3339(D + timedelta(microseconds=5)) == "2026-11-26T10:00:00.000005Z"


@pytest.mark.parametrize(
    ("duration", "step", "span"),
    [
        (timedelta(0), "0s", "0s"),
        (45 * S, "45s", "45s"),
        (90 * S, "1m30s", "1m 30s"),
        (24 * H, "24h", "1d"),
        (51 * H + 59 * 60 * S + 59 * S, "51h59m59s", "2d 3h"),
        (48 * H + 5 * 60 * S, "48h5m", "2d"),
    ],
    ids=["zero", "seconds", "minutes", "a day", "rounded down", "a zero unit is left out"],
)
def test_durations_read_as_config_steps_and_as_spans(
    duration: timedelta, step: str, span: str
) -> None:
    assert format_step(duration) == step
    assert format_span(duration) == span


@pytest.mark.parametrize(
    ("item", "now", "fired", "wakeup"),
    [
        (Watched(posting()), D - 30 * H, set(), D - 24 * H + timedelta(microseconds=1)),
        (Watched(posting()), D - 24 * H, set(), D - 24 * H + timedelta(microseconds=1)),
        (Watched(posting()), D - 30 * 60 * S, {R24, R4, R1}, D),
        (Watched(posting()), D + H, {R24, R4, R1, O0}, D + 12 * H),
        (Watched(posting()), D + 47 * H, {R24, R4, R1, O0, ("overdue", f"#3@{Z}")}, D + 48 * H),
        (Watched(posting(), held=True, held_until=D + 5 * H), D + H, {O0}, D + 5 * H),
        (Watched(posting(status="delivering")), D - 30 * H, set(), None),
    ],
    ids=[
        "far ahead: just after the 24h step",
        "exactly at a step: the first instant below it",
        "all reminders sent: the deadline",
        "overdue: the next repeat",
        "about to reach overdue_for: the cancel threshold",
        "held: the end of the hold",
        "nothing watched: none",
    ],
)
def test_next_wakeup_is_the_next_moment_something_may_fire(
    item: Watched, now: datetime, fired: set[Any], wakeup: datetime | None
) -> None:
    assert next_wakeup([item], now, RULES, done(*fired)) == wakeup


def test_next_wakeup_includes_the_cancel_threshold() -> None:
    rules = replace(RULES, overdue_repeat=timedelta(0))
    fired = done(R24, R4, R1, O0)
    assert next_wakeup([Watched(posting())], D + H, rules, fired) == D + 48 * H


def test_next_wakeup_is_none_when_nothing_can_happen_any_more() -> None:
    rules = replace(RULES, overdue_repeat=timedelta(0))
    item = Watched(posting(available_actions=()))
    fired = done(R24, R4, R1, O0)
    assert next_wakeup([item], D + H, rules, fired) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decide([], D.replace(tzinfo=None), RULES), "timezone-aware"),
        (lambda: next_wakeup([], D.replace(tzinfo=None), RULES), "timezone-aware"),
        (lambda: run([posting(), posting()], D), "passed twice"),
        (lambda: run([posting()], D, departed=[Departed(posting())]), "passed twice"),
        (lambda: Rules(remind_before=(timedelta(0),)), "positive"),
        (lambda: Rules(overdue_repeat=-S), "negative"),
        (lambda: CancelRules(max_share=1.5), "max_share"),
    ],
    ids=[
        "naive now",
        "naive now in next_wakeup",
        "duplicate posting",
        "posting both watched and departed",
        "zero reminder step",
        "negative overdue_repeat",
        "max_share above 1",
    ],
)
def test_policy_rejects_inputs_it_cannot_decide_on(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_rules_defaults_follow_the_contract() -> None:
    assert RULES.watch_statuses == {"awaiting_packaging", "awaiting_deliver"}
    assert RULES.steps == (H, 4 * H, 24 * H)
    assert RULES.overdue_repeat == 12 * H
    assert RULES.cancel == CancelRules(
        enabled=False,
        overdue_for=48 * H,
        statuses=frozenset({"awaiting_packaging"}),
        reason_id=402,
        reason_message="Could not be shipped in time",
        max_per_cycle=5,
        max_share=0.2,
    )
