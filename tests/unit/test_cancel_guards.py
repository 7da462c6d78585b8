"""The cancellation executor's pure guards, as tables: the cycle-level plan (failed cycle, clock
skew, share breaker, refusals, max_per_cycle), what changed between listing and re-reading,
whether the policy still selects the re-read posting, and the per-posting reason check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from daemon.cancel_plan import (
    changed_fields,
    choose_reason,
    clock_guard,
    dry_run_plan,
    not_cancellable_reason,
    plan_cycle,
    refused_key,
)
from daemon.models import CancelReason, Posting, PostingCancelReasons
from daemon.policy import CancelRules, CancelSelection, Rules

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CANCEL_ACTIONS = ("cancel", "ship", "label_download")


def posting(number: str = "1000-0001-1", hours_overdue: float = 50, **fields: object) -> Posting:
    values: dict[str, object] = {
        "posting_number": number,
        "status": "awaiting_packaging",
        "substatus": "posting_created",
        "shipment_date": NOW - hours_overdue * HOUR,
        "available_actions": CANCEL_ACTIONS,
    }
    values.update(fields)
    return msgspec.convert(values, Posting, from_attributes=False, strict=False)


def selections(count: int) -> list[CancelSelection]:
    return [
        CancelSelection(posting(f"1000-{i:04d}-1", 50 + count - i), "overdue", f"@{i}")
        for i in range(count)
    ]


# ---------------------------------------------------------------- clock skew


@pytest.mark.parametrize(
    ("skew", "holds_back"),
    [
        (None, True),
        (0.0, False),
        (120.0, False),
        (-120.0, False),
        (121.0, True),
        (-121.0, True),
        (3600.0, True),
    ],
    ids=[
        "unknown: no Date header seen",
        "equal clocks",
        "exactly 2 minutes ahead",
        "exactly 2 minutes behind",
        "one second over, ahead",
        "one second over, behind",
        "an hour off",
    ],
)
def test_clock_guard_holds_back_beyond_two_minutes_or_when_unknown(
    skew: float | None, holds_back: bool
) -> None:
    reason = clock_guard(skew)
    assert (reason is not None) == holds_back
    if skew is not None and holds_back:
        assert ("ahead of" if skew > 0 else "behind") in str(reason)


# ---------------------------------------------------------------- the cycle plan


@pytest.mark.parametrize(
    ("selected", "watched", "rules", "skew", "error", "send", "reason"),
    [
        (2, 2, CancelRules(), 0.0, None, 2, ""),
        (3, 15, CancelRules(), 0.0, None, 3, ""),
        (3, 14, CancelRules(), 0.0, None, 0, "share breaker"),
        (3, 3, CancelRules(max_share=1.0), 0.0, None, 3, ""),
        (7, 100, CancelRules(), 0.0, None, 5, "max_per_cycle 5"),
        (7, 7, CancelRules(max_share=1.0, max_per_cycle=2), 0.0, None, 2, "max_per_cycle 2"),
        (2, 2, CancelRules(max_per_cycle=0), 0.0, None, 0, "max_per_cycle 0"),
        (2, 2, CancelRules(), 500.0, None, 0, "clock"),
        (2, 2, CancelRules(), None, None, 0, "unknown"),
        (2, 2, CancelRules(), 0.0, "Ozon answered 500", 0, "this cycle failed"),
        (0, 10, CancelRules(), 0.0, None, 0, ""),
    ],
    ids=[
        "two selected: the breaker needs three",
        "three of fifteen is exactly max_share: allowed",
        "three of fourteen is over max_share: none",
        "max_share 1.0 never trips",
        "max_per_cycle caps, the rest wait",
        "a small max_per_cycle",
        "max_per_cycle 0 sends nothing",
        "clock five minutes off: none",
        "Ozon's time unknown: none",
        "a failed cycle: none",
        "nothing selected",
    ],
)
def test_plan_cycle_applies_the_cycle_guards_in_order(
    selected: int,
    watched: int,
    rules: CancelRules,
    skew: float | None,
    error: str | None,
    send: int,
    reason: str,
) -> None:
    chosen = selections(selected)
    plan = plan_cycle(chosen, watched=watched, cancel=rules, skew=skew, cycle_error=error)
    assert plan.send == tuple(chosen[:send])  # in the given order (soonest deadline first)
    assert [s for s, _ in plan.held] == chosen[send:]
    assert all(reason in why for _, why in plan.held)


def test_plan_cycle_skips_postings_refused_for_their_deadline_before_counting_max_per_cycle() -> (
    None
):
    chosen = selections(4)
    fired = {tuple(refused_key(chosen[0].posting))}
    plan = plan_cycle(
        chosen, watched=4, cancel=CancelRules(max_share=1.0, max_per_cycle=2), skew=0, fired=fired
    )
    assert plan.send == (chosen[1], chosen[2])
    assert [s for s, _ in plan.held] == [chosen[3]]


def test_plan_cycle_holds_back_postings_the_advice_says_to_ship_before_max_per_cycle() -> None:
    chosen = selections(4)
    advised = {chosen[0].posting.posting_number: "the advice says ship (red zone)"}
    plan = plan_cycle(
        chosen, watched=4, cancel=CancelRules(max_share=1.0, max_per_cycle=2), skew=0,
        advised=advised,
    )  # fmt: skip
    assert plan.advised == ((chosen[0], "the advice says ship (red zone)"),)
    assert plan.send == (chosen[1], chosen[2])  # the advised one takes no place
    assert [s for s, _ in plan.held] == [chosen[3]]


def test_the_cycle_guards_hold_back_everything_before_the_advice_is_asked() -> None:
    chosen = selections(2)
    advised = {chosen[0].posting.posting_number: "ship"}
    plan = plan_cycle(chosen, watched=20, cancel=CancelRules(), skew=None, advised=advised)
    assert plan.send == () and plan.advised == ()
    assert [s for s, _ in plan.held] == chosen  # the clock guard: all held, none advised


@pytest.mark.parametrize(
    ("count", "watched", "cancel", "limit"),
    [
        (1, 10, CancelRules(), None),
        (3, 4, CancelRules(), "the share breaker would hold back all 3"),
        (2, 30, CancelRules(max_per_cycle=1), [None, "over max_per_cycle 1 this cycle"]),
    ],
    ids=["within every limit", "share breaker", "max_per_cycle"],
)
def test_a_dry_run_reports_each_selection_naming_the_limit_that_would_hold_it_back(
    count: int, watched: int, cancel: CancelRules, limit: str | list[str | None] | None
) -> None:
    selected = selections(count)
    plan = dry_run_plan(selected, watched, cancel)
    assert [selection for selection, _ in plan] == selected  # every one, in order
    limits = limit if isinstance(limit, list) else [limit] * count
    for (_, reason), expected in zip(plan, limits, strict=True):
        assert reason.startswith("overdue; dry run, nothing is cancelled")
        assert (expected in reason) if expected else reason.count(";") == 1


def test_a_refusal_is_keyed_by_deadline_so_a_moved_deadline_allows_a_new_attempt() -> None:
    before = posting(hours_overdue=50)
    after = posting(hours_overdue=30)
    assert refused_key(before) != refused_key(after)
    assert refused_key(before).event == "cancel_failed"


# ---------------------------------------------------------------- changed between reads


@pytest.mark.parametrize(
    ("fresh", "changed"),
    [
        ({}, ""),
        ({"substatus": "posting_not_in_carriage"}, ""),
        ({"status": "awaiting_deliver"}, "status awaiting_packaging -> awaiting_deliver"),
        ({"shipment_date": NOW - 10 * HOUR}, "shipment_date"),
        ({"available_actions": ("ship",)}, "the cancel action disappeared"),
        (
            {"status": "awaiting_deliver", "available_actions": ("ship",)},
            "status awaiting_packaging -> awaiting_deliver, the cancel action disappeared",
        ),
    ],
    ids=[
        "unchanged",
        "other fields do not count",
        "status",
        "shipment_date",
        "cancel action",
        "several, all named",
    ],
)
def test_changed_fields_names_status_deadline_and_cancel_action(
    fresh: dict[str, object], changed: str
) -> None:
    listed = posting()
    reread = msgspec.structs.replace(listed, **fresh)
    if changed:
        assert changed in changed_fields(listed, reread)
    else:
        assert changed_fields(listed, reread) == ""


# ---------------------------------------------------------------- still selected on re-read


@pytest.mark.parametrize(
    ("fields", "held", "rules", "cancellable"),
    [
        ({}, False, Rules(), True),
        ({"hours_overdue": 48}, False, Rules(), True),
        ({"hours_overdue": 47.99}, False, Rules(), False),
        ({"status": "awaiting_deliver"}, False, Rules(), False),
        (
            {"status": "awaiting_deliver", "substatus": "posting_not_in_carriage"},
            False,
            Rules(cancel=CancelRules(statuses=frozenset({"awaiting_deliver"}))),
            True,
        ),
        (
            {"status": "awaiting_deliver", "substatus": "posting_transferring_to_delivery"},
            False,
            Rules(cancel=CancelRules(statuses=frozenset({"awaiting_deliver"}))),
            False,
        ),
        (
            {"status": "awaiting_deliver", "substatus": "posting_in_carriage"},
            False,
            Rules(cancel=CancelRules(statuses=frozenset({"awaiting_deliver"}))),
            False,
        ),
        ({"delivering_date": NOW - HOUR}, False, Rules(), False),
        ({"available_actions": ("ship",)}, False, Rules(), False),
        ({"status": "cancelled", "substatus": "posting_canceled"}, False, Rules(), False),
        ({}, True, Rules(), False),
    ],
    ids=[
        "overdue 50h, cancel available",
        "exactly overdue_for",
        "just under overdue_for",
        "status not in cancel.statuses",
        "awaiting_deliver allowed and not handed over",
        "being handed to delivery",
        "in a carriage",
        "delivering_date set",
        "no cancel action",
        "already cancelled",
        "held",
    ],
)
def test_not_cancellable_reason_uses_the_policys_own_selection(
    fields: dict[str, object], held: bool, rules: Rules, cancellable: bool
) -> None:
    hours = float(str(fields.pop("hours_overdue", 50)))
    reason = not_cancellable_reason(posting(hours_overdue=hours, **fields), NOW, rules, held=held)
    assert (reason is None) == cancellable
    if reason is not None:
        assert "status" in reason


# ---------------------------------------------------------------- reason allowed


def reasons(number: str, *ids: int) -> list[PostingCancelReasons]:
    return [
        PostingCancelReasons(
            posting_number=number,
            reasons=tuple(CancelReason(id=i, title=f"title {i}", type_id="seller") for i in ids),
        )
    ]


@pytest.mark.parametrize(
    ("answer", "allowed", "named"),
    [
        (reasons("P-1", 352, 400, 402), True, ""),
        (reasons("P-1", 352, 400), False, "352 (title 352), 400 (title 400)"),
        (reasons("P-1"), False, "Ozon allows: none"),
        (reasons("P-2", 402), False, "Ozon allows: none"),
        ([], False, "Ozon allows: none"),
    ],
    ids=[
        "402 allowed",
        "402 not among those allowed",
        "no reason allowed",
        "Ozon answered about another posting only",
        "empty answer",
    ],
)
def test_a_refused_reason_names_the_reasons_ozon_allows(
    answer: list[PostingCancelReasons], allowed: bool, named: str
) -> None:
    chosen, refusal = choose_reason(answer, "P-1", (402,))
    assert (chosen == 402) == allowed and (refusal == "") == allowed
    if not allowed:
        assert named in refusal
        assert "402 is not allowed" in refusal


@pytest.mark.parametrize(
    ("wanted", "offered", "chosen"),
    [
        ((402, 352), (352, 400, 402), 402),
        ((402, 352), (352, 400), 352),
        ((400, 402, 352), (352, 402), 402),
        ((402, 352), (400,), None),
    ],
    ids=["the first allowed", "the second when the first is not", "order of the list", "none"],
)
def test_the_first_configured_reason_ozon_allows_is_chosen(
    wanted: tuple[int, ...], offered: tuple[int, ...], chosen: int | None
) -> None:
    assert choose_reason(reasons("P-1", *offered), "P-1", wanted)[0] == chosen


def test_a_refusal_says_which_key_to_set_with_a_list_ozon_would_accept() -> None:
    _, refusal = choose_reason(reasons("P-1", 352, 400), "P-1", (402,))
    assert "set [policy.cancel] reason_ids = [402, 352, 400]" in refusal
    assert "the first one Ozon allows is used" in refusal
    _, refusal = choose_reason(reasons("P-1", 400), "P-1", (402, 352))
    assert refusal.startswith("none of the cancel reasons 402, 352 is allowed")
    _, refusal = choose_reason(reasons("P-1"), "P-1", (402,))
    assert "reason_ids" not in refusal  # nothing to set when Ozon allows none
