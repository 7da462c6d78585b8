"""Properties of the deadline policy that must hold for any postings, rules and times."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.models import Cancellation, LedgerKey, Posting
from daemon.policy import (
    KNOWN_STATUSES,
    NO_CANCEL_SUBSTATUSES,
    CancelRules,
    Decisions,
    Departed,
    Rules,
    Watched,
    decide,
    is_watched,
    next_wakeup,
)
from daemon.policy import _can_select as can_select
from daemon.policy_keys import reminder_step

BASE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DAY = 86400
STATUSES = [
    "awaiting_packaging",
    "awaiting_deliver",
    "delivering",
    "cancelled",
    "awaiting_teleport",
]
SUBSTATUSES = ["", "posting_created", "posting_in_carriage", "posting_split_pending"]

seconds = st.integers(-6 * DAY, 6 * DAY).map(lambda s: timedelta(seconds=s))
moments = seconds.map(lambda offset: BASE + offset)
positive = st.sampled_from([1800, 3600, 4 * 3600, DAY]) | st.integers(1, 3 * DAY)
steps = st.lists(positive.map(lambda s: timedelta(seconds=s)), max_size=4).map(tuple)
repeats = st.sampled_from([0, 3600, 12 * 3600]) | st.integers(1, 2 * DAY)
DEFAULT_STATUSES = frozenset({"awaiting_packaging", "awaiting_deliver"})
# Biased towards the default statuses so that many postings are watched and cancellable.
status_sets = st.just(DEFAULT_STATUSES) | st.sets(st.sampled_from(STATUSES), max_size=3).map(
    frozenset
)
cancel_rules = st.builds(
    CancelRules,
    enabled=st.booleans(),
    overdue_for=st.integers(0, 4 * DAY).map(lambda s: timedelta(seconds=s)),
    statuses=status_sets,
    max_per_cycle=st.integers(0, 6),
    max_share=st.floats(0, 1),
)
rules_strategy = st.builds(
    Rules,
    watch_statuses=status_sets,
    remind_before=steps,
    overdue_repeat=repeats.map(lambda s: timedelta(seconds=s)),
    cancel=cancel_rules,
)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def postings(draw: st.DrawFn, number: str) -> Posting:
    """Half of them ordinary (watched and cancellable by default rules), half anything."""
    deadline = draw(moments)
    if draw(st.booleans()):
        status = draw(st.sampled_from(sorted(DEFAULT_STATUSES)))
        return Posting(
            posting_number=number,
            status=status,
            shipment_date=deadline,
            available_actions=("cancel", "ship"),
        )
    return Posting(
        posting_number=number,
        status=draw(st.sampled_from(STATUSES)),
        substatus=draw(st.sampled_from(SUBSTATUSES)),
        shipment_date=deadline,
        available_actions=draw(st.sampled_from([("cancel", "ship"), ("ship",), ()])),
        delivering_date=draw(st.none() | st.just(BASE)),
        cancellation=draw(st.none() | st.just(Cancellation(initiator="Ozon"))),
    )


@st.composite
def watched_lists(draw: st.DrawFn, max_size: int = 6) -> list[Watched]:
    items = []
    for n in range(draw(st.integers(0, max_size))):
        posting = draw(postings(f"{n}-1"))
        # holds end near the deadline, where their end matters
        hold_end = posting.shipment_date + timedelta(seconds=draw(st.integers(-DAY, 3 * DAY)))
        held = draw(st.sampled_from([False, False, True]))
        previous = draw(st.none() | moments)
        items.append(Watched(posting, previous, held, draw(st.none() | st.just(hold_end))))
    return items


def keys(decisions: Decisions) -> set[LedgerKey]:
    return set(decisions.ledger_keys())


@PROPERTY_SETTINGS
@given(
    items=watched_lists(),
    rules=rules_strategy,
    start=moments,
    cycles=st.lists(
        st.tuples(st.integers(0, 2 * DAY), st.none() | st.tuples(st.integers(0, 5), seconds)),
        max_size=12,
    ),
)
def test_each_step_fires_at_most_once_over_increasing_time(
    items: list[Watched],
    rules: Rules,
    start: datetime,
    cycles: list[tuple[int, tuple[int, timedelta] | None]],
) -> None:
    now, fired, sent = start, set[LedgerKey](), list[LedgerKey]()
    current = {item.posting.posting_number: item for item in items}
    first: list[tuple[int, tuple[int, timedelta] | None]] = [(0, None)]
    for advance, move in first + cycles:
        now += timedelta(seconds=advance)
        if move is not None and move[0] < len(items):
            number = items[move[0]].posting.posting_number
            item = current[number]
            posting = msgspec.structs.replace(item.posting, shipment_date=BASE + move[1])
            current[number] = replace(item, posting=posting)
        decisions = decide(current.values(), now, rules, frozenset(fired))
        alert_keys = [alert.key for alert in decisions.alerts]
        assert not set(alert_keys) & fired
        assert not set(decisions.mark_done) & fired
        assert len(set(alert_keys)) == len(alert_keys)
        reminded = [a.posting.posting_number for a in decisions.alerts if a.event == "reminder"]
        assert len(reminded) == len(set(reminded)), "one reminder per posting per cycle"
        sent += alert_keys
        fired |= keys(decisions)
        # the store now knows each current deadline as the previous one
        current = {
            number: replace(item, previous_shipment_date=item.posting.shipment_date)
            for number, item in current.items()
        }
    assert len(sent) == len(set(sent))


@PROPERTY_SETTINGS
@given(items=watched_lists(), rules=rules_strategy, now=moments)
def test_nothing_is_selected_before_overdue_for_or_against_a_guard(
    items: list[Watched], rules: Rules, now: datetime
) -> None:
    decisions = decide(items, now, rules)
    by_number = {item.posting.posting_number: item for item in items}
    for selection in decisions.selected:
        item = by_number[selection.posting.posting_number]
        posting = item.posting
        assert now >= posting.shipment_date + rules.cancel.overdue_for
        assert posting.status in rules.cancel.statuses
        assert posting.status in KNOWN_STATUSES
        assert posting.status in rules.watch_statuses
        assert posting.can_cancel and posting.delivering_date is None
        assert posting.substatus not in NO_CANCEL_SUBSTATUSES
        assert not item.is_held(now)
    # would_cancel is the executor's report (dry run decided at the side effect), never the policy's
    assert "would_cancel" not in {a.event for a in decisions.alerts}


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    items=watched_lists(),
    rules=rules_strategy,
    now=moments,
    departed_postings=st.lists(st.sampled_from(["cancelled", "delivering"]), max_size=3),
)
def test_decisions_do_not_depend_on_the_order_of_postings(
    data: st.DataObject,
    items: list[Watched],
    rules: Rules,
    now: datetime,
    departed_postings: list[str],
) -> None:
    departed = [
        Departed(Posting(posting_number=f"{n}-9", status=status, shipment_date=BASE))
        for n, status in enumerate(departed_postings)
    ]
    possible = sorted(keys(decide(items, now, rules))) or [LedgerKey("x", "y", "z")]
    fired = frozenset(data.draw(st.sets(st.sampled_from(possible))))
    expected = decide(items, now, rules, fired, departed)
    shuffled = data.draw(st.permutations(items))
    shuffled_departed = data.draw(st.permutations(departed))
    assert decide(shuffled, now, rules, fired, shuffled_departed) == expected


@PROPERTY_SETTINGS
@given(items=watched_lists(), rules=rules_strategy, now=moments)
def test_a_held_posting_gets_no_overdue_repeat(
    items: list[Watched], rules: Rules, now: datetime
) -> None:
    held = {item.posting.posting_number for item in items if item.is_held(now)}
    decisions = decide(items, now, rules)
    for alert in decisions.alerts:
        if alert.event == "overdue" and alert.posting.posting_number in held:
            assert alert.step.startswith("#0@")
    assert not held & {s.posting.posting_number for s in decisions.selected}


def assert_quiet_until_wakeup(
    data: st.DataObject, items: list[Watched], rules: Rules, now: datetime
) -> None:
    """Decide at `now`, feed the keys back, and check that nothing new is decided at any
    moment strictly between `now` and `next_wakeup` (any moment later when it is None)."""
    first = decide(items, now, rules)
    fired = frozenset(keys(first))
    wakeup = next_wakeup(items, now, rules, fired)
    if wakeup is None:
        gap = data.draw(st.integers(1, 30 * DAY * 10**6))
    else:
        assert wakeup > now
        span = (wakeup - now) // timedelta(microseconds=1)
        if span < 2:
            return
        gap = data.draw(st.integers(1, span - 1) | st.just(span - 1))
    decisions = decide(items, now + timedelta(microseconds=gap), rules, fired)
    assert decisions.alerts == ()
    assert decisions.mark_done == ()
    assert [s.key for s in decisions.selected] == [s.key for s in first.selected]


@PROPERTY_SETTINGS
@given(data=st.data(), items=watched_lists(max_size=3), rules=rules_strategy, offset=seconds)
def test_nothing_fires_between_now_and_next_wakeup(
    data: st.DataObject, items: list[Watched], rules: Rules, offset: timedelta
) -> None:
    # now near a moment where something of the first posting changes, so that the next one
    # (a step, the deadline, a repeat, the end of a hold, a cancel threshold) is close
    anchors = [BASE]
    if items:
        first_item, deadline = items[0], items[0].posting.shipment_date
        anchors = [deadline, deadline + rules.cancel.overdue_for, deadline + rules.overdue_repeat]
        anchors += [first_item.held_until] if first_item.held_until else []
    near = st.integers(-3 * 3600, 3 * 3600).map(lambda s: timedelta(seconds=s))
    now = data.draw(st.sampled_from(anchors)) + data.draw(near | st.just(offset))
    assert_quiet_until_wakeup(data, items, rules, now)


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    rules=rules_strategy,
    late=st.integers(-2 * DAY, 5 * DAY),
    held=st.booleans(),
    hold_left=st.none() | st.integers(1, 3 * 3600) | st.integers(1, 2 * DAY),
)
def test_nothing_fires_before_next_wakeup_for_one_cancellable_posting(
    data: st.DataObject, rules: Rules, late: int, held: bool, hold_left: int | None
) -> None:
    rules = replace(rules, watch_statuses=DEFAULT_STATUSES)
    rules = replace(rules, cancel=replace(rules.cancel, statuses=DEFAULT_STATUSES))
    now = BASE + timedelta(seconds=late)
    posting = Posting(
        posting_number="1-1",
        status="awaiting_packaging",
        shipment_date=BASE,
        available_actions=("cancel",),
    )
    held_until = None if hold_left is None else now + timedelta(seconds=hold_left)
    assert_quiet_until_wakeup(data, [Watched(posting, BASE, held, held_until)], rules, now)


def _every_moment_wakeup(
    items: list[Watched], now: datetime, rules: Rules, fired: frozenset[tuple[str, str, str]]
) -> datetime | None:
    """next_wakeup spelled out: every candidate moment of every posting, then the earliest."""
    moments: list[datetime] = []
    for item in items:
        posting, deadline = item.posting, item.posting.shipment_date
        if not is_watched(posting, rules):
            continue
        for step in rules.steps:
            if (posting.posting_number, "reminder", reminder_step(step, deadline)) not in fired:
                moments.append(deadline - step + timedelta(microseconds=1))
        moments.append(deadline)
        if rules.overdue_repeat > timedelta(0) and now >= deadline:
            k = (now - deadline) // rules.overdue_repeat
            moments.append(deadline + (k + 1) * rules.overdue_repeat)
        if item.held and item.held_until is not None:
            moments.append(item.held_until)
        if can_select(posting, rules.cancel):
            moments.append(deadline + rules.cancel.overdue_for)
    return min((m for m in moments if m > now), default=None)


@PROPERTY_SETTINGS
@given(items=watched_lists(), rules=rules_strategy, now=moments, data=st.data())
def test_next_wakeup_is_the_earliest_candidate_moment(
    items: list[Watched], rules: Rules, now: datetime, data: st.DataObject
) -> None:
    """The shortcut (the ledger looked up only for a moment that could win) changes nothing:
    the answer is the earliest of all candidate moments, whatever is already fired."""
    all_keys = sorted(
        keys(decide(items, now - timedelta(days=3), rules)) | keys(decide(items, now, rules))
    )
    fired = frozenset(
        data.draw(st.lists(st.sampled_from(all_keys), unique=True)) if all_keys else []
    )
    assert next_wakeup(items, now, rules, fired) == _every_moment_wakeup(items, now, rules, fired)
