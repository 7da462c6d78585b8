"""Tables for the escalation ladder (daemon.escalation): when each level is due, what stops
it, what the alert is about, and when the next one is; plus properties over random times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.escalation import Escalation, Ladder, ladder_keys
from daemon.models import NO_DEADLINE, Posting
from daemon.policy import Rules, Watched
from daemon.policy_keys import ESCALATED, escalation_step, overdue_step, reminder_step

D = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
RULES = Rules(escalate_after=(30 * M, 2 * H))  # remind_before 24h / 4h / 1h
Key = tuple[str, str, str]
OVERDUE_0 = ("1-1", "overdue", overdue_step(0, D))
REMINDER_1H = ("1-1", "reminder", reminder_step(H, D))


def posting(number: str = "1-1", **fields: Any) -> Posting:
    base: dict[str, Any] = {
        "posting_number": number,
        "status": "awaiting_packaging",
        "shipment_date": D,
    }
    return Posting(**(base | fields))


def due(
    now: datetime,
    times: Mapping[Key, datetime],
    *,
    items: Iterable[Watched] | None = None,
    rules: Rules = RULES,
    acknowledged: Set[str] = frozenset(),
    fired: Set[Key] = frozenset(),
) -> list[tuple[int, str]]:
    watched = list(items) if items is not None else [Watched(posting())]
    ladder = Ladder(rules, acknowledged, times)
    return [(step.level, step.event) for step in ladder.due(watched, now, fired)]


def level(n: int, deadline: datetime = D, number: str = "1-1") -> Key:
    return (number, ESCALATED, escalation_step(n, deadline))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (D + 30 * M - S, []),
        (D + 30 * M, [(1, "overdue")]),
        (D + 2 * H - S, [(1, "overdue")]),
        (D + 2 * H, [(1, "overdue"), (2, "overdue")]),
    ],
    ids=["a second before level 1", "at level 1", "before level 2", "both at once (late)"],
)
def test_levels_fall_due_escalate_after_the_first_overdue_alert(
    now: datetime, expected: list[tuple[int, str]]
) -> None:
    assert due(now, {OVERDUE_0: D}) == expected


def test_a_level_already_in_the_ledger_is_not_escalated_again() -> None:
    assert due(D + 3 * H, {OVERDUE_0: D}, fired={level(1)}) == [(2, "overdue")]
    assert due(D + 3 * H, {OVERDUE_0: D}, fired={level(1), level(2)}) == []


def test_the_ladder_starts_at_the_last_step_reminder_and_escalates_it_as_a_reminder() -> None:
    reminded = D - H + S  # the 1h step's reminder
    assert due(reminded + 30 * M - S, {REMINDER_1H: reminded}) == []
    assert due(reminded + 30 * M, {REMINDER_1H: reminded}) == [(1, "reminder")]
    # two hours after the reminder the posting is overdue: level 2 is about that
    assert due(reminded + 2 * H, {REMINDER_1H: reminded, OVERDUE_0: D}, fired={level(1)}) == [
        (2, "overdue")
    ]


def test_the_earlier_of_the_ladder_alerts_starts_the_ladder() -> None:
    times = {REMINDER_1H: D - 40 * M, OVERDUE_0: D}
    assert due(D - 10 * M, times) == [(1, "reminder")]


def test_a_larger_reminder_step_starts_no_ladder() -> None:
    four_hours = ("1-1", "reminder", reminder_step(4 * H, D))
    assert due(D - 2 * H, {four_hours: D - 4 * H}) == []


@pytest.mark.parametrize(
    ("item", "acknowledged"),
    [
        (Watched(posting()), {"1-1"}),
        (Watched(posting(), held=True), set()),
        (Watched(posting(), held=True, held_until=D + 4 * H), set()),
        (Watched(posting(status="delivering")), set()),
    ],
    ids=["acknowledged", "held", "held until later", "shipped"],
)
def test_an_acknowledged_held_or_shipped_posting_is_not_escalated(
    item: Watched, acknowledged: set[str]
) -> None:
    assert due(D + 3 * H, {OVERDUE_0: D}, items=[item], acknowledged=acknowledged) == []


def test_a_hold_that_ended_lets_the_ladder_go_on() -> None:
    item = Watched(posting(), held=True, held_until=D + H)
    assert due(D + H, {OVERDUE_0: D}, items=[item]) == [(1, "overdue")]


def test_nothing_escalates_without_escalate_after_a_ladder_or_a_deadline() -> None:
    assert due(D + 3 * H, {OVERDUE_0: D}, rules=Rules()) == []
    assert due(D + 3 * H, {}) == []  # the ledger has no ladder alert (yet)
    no_deadline = Watched(posting(shipment_date=NO_DEADLINE))
    assert due(D + 3 * H, {OVERDUE_0: D}, items=[no_deadline]) == []


def test_a_moved_deadline_starts_a_new_ladder() -> None:
    moved = Watched(posting(shipment_date=D + 5 * H), previous_shipment_date=D)
    assert due(D + 3 * H, {OVERDUE_0: D}, items=[moved]) == []


def test_the_decision_names_its_key_level_and_reason() -> None:
    ladder = Ladder(RULES, frozenset(), {OVERDUE_0: D})
    (step,) = ladder.due([Watched(posting())], D + 45 * M, frozenset())
    assert isinstance(step, Escalation)
    assert step.key == level(1)
    assert step.after == 30 * M
    assert step.reason.startswith("level 1: not acknowledged 45m after its first alert")
    assert "escalate_after 30m" in step.reason and "overdue by 45m" in step.reason


def test_several_postings_come_soonest_deadline_first() -> None:
    early = posting("0-1", shipment_date=D - H)
    times = {
        OVERDUE_0: D,
        ("0-1", "overdue", overdue_step(0, D - H)): D - H,
    }
    ladder = Ladder(RULES, frozenset(), times)
    steps = ladder.due([Watched(posting()), Watched(early)], D + 3 * H, frozenset())
    assert [(s.posting.posting_number, s.level) for s in steps] == [
        ("0-1", 1),
        ("0-1", 2),
        ("1-1", 1),
        ("1-1", 2),
    ]


def test_ladder_keys_name_only_postings_past_the_last_step_or_the_deadline() -> None:
    items = [
        Watched(posting("far", shipment_date=D + 5 * H)),
        Watched(posting("soon", shipment_date=D + 30 * M)),
        Watched(posting("late", shipment_date=D - H)),
    ]
    keys = {(k.posting_number, k.event) for k in ladder_keys(items, D, RULES)}
    assert keys == {("soon", "reminder"), ("late", "reminder"), ("late", "overdue")}
    assert ladder_keys(items, D, Rules()) == []


# ---------------------------------------------------------------- the next moment


def test_the_next_moment_is_the_next_level_of_the_ladder() -> None:
    ladder = Ladder(RULES, frozenset(), {OVERDUE_0: D})
    item = [Watched(posting())]
    assert ladder.next_moment(item, D, frozenset()) == D + 30 * M
    assert ladder.next_moment(item, D + 30 * M, {level(1)}) == D + 2 * H
    assert ladder.next_moment(item, D + 2 * H, {level(1), level(2)}) is None


def test_a_ladder_alert_decided_now_counts_from_now() -> None:
    ladder = Ladder(RULES, frozenset(), {})  # not in the ledger yet: decided at this moment
    item = [Watched(posting())]
    assert ladder.next_moment(item, D + 5 * M, {OVERDUE_0}) == D + 35 * M
    assert ladder.next_moment(item, D + 5 * M, frozenset()) is None


def test_an_acknowledged_posting_has_no_next_moment() -> None:
    ladder = Ladder(RULES, {"1-1"}, {OVERDUE_0: D})
    assert ladder.next_moment([Watched(posting())], D, frozenset()) is None


# ---------------------------------------------------------------- properties


@given(
    start=st.integers(min_value=0, max_value=10_000),
    first=st.integers(min_value=1, max_value=5_000),
    gap=st.integers(min_value=1, max_value=5_000),
    now=st.integers(min_value=-100, max_value=30_000),
)
def test_no_level_is_due_before_its_time_and_each_at_most_once(
    start: int, first: int, gap: int, now: int
) -> None:
    rules = Rules(escalate_after=(first * S, (first + gap) * S))
    began = D + start * S
    moment = D + now * S
    times = {OVERDUE_0: began}
    ladder = Ladder(rules, frozenset(), times)
    steps = ladder.due([Watched(posting())], moment, frozenset())
    for step in steps:
        assert moment >= began + rules.escalate_after[step.level - 1]
    assert len({s.level for s in steps}) == len(steps)
    again = ladder.due([Watched(posting())], moment, {s.key for s in steps})
    assert again == []
    upcoming = ladder.next_moment([Watched(posting())], moment, {s.key for s in steps})
    if upcoming is not None:
        assert upcoming > moment
