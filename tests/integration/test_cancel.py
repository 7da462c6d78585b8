"""The cancellation executor in-process: the Engine (resolve -> cycle -> execute -> alerts)
against the sandbox in a thread, with a real SQLite store opened anew for every cycle (as if
the process restarted), and the sandbox's recorded calls as the proof of what was sent."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.alerts.batch import release
from daemon.cancel import CancelExecutor
from daemon.config import Config, parse_config, resolve_secrets
from daemon.cycle import CycleResult, run_cycle
from daemon.engine import Engine
from daemon.sandbox import Knobs, Sandbox
from daemon.store import HistoryEntry, Store
from tests.sandbox_fixtures import MakeSandbox

CANCEL = "/v2/posting/fbs/cancel"
GET = "/v3/posting/fbs/get"
REASONS = "/v1/posting/fbs/cancel-reason"
ACCOUNT = "shop-1"
HOUR = timedelta(hours=1)


@pytest.fixture
def sb(make_sandbox: MakeSandbox) -> Sandbox:
    """An empty sandbox (tests add their postings) without rate limit or scheduled events."""
    return make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def overdue(sb: Sandbox, hours: float = 50, **kwargs: Any) -> str:
    """Add a posting `hours` past its shipment_date (cancelled after 48 h by default)."""
    return sb.add_posting(datetime.now(UTC) - hours * HOUR, **kwargs)


def settled() -> datetime:
    """A claim's time older than the settling window of an unknown outcome (10 minutes): a
    re-read of a posting still open then concludes that the cancel did not take effect."""
    return datetime.now(UTC) - timedelta(minutes=11)


def fresh(sb: Sandbox, count: int) -> list[str]:
    """Add `count` postings due in three days (watched, never selected)."""
    return [sb.add_posting(datetime.now(UTC) + 72 * HOUR) for _ in range(count)]


def config(sb: Sandbox, **cancel: Any) -> Config:
    cancel.setdefault("enabled", True)
    return parse_config(
        {
            "ozon": {
                "base_url": sb.base_url,
                "retry_for": "0s",
                "timeout": "5s",
                "max_requests_per_second": 50,
            },
            "accounts": [{"name": ACCOUNT, "client_id": sb.client_id, "api_key_env": "KEY"}],
            "policy": {"cancel": cancel},
        }
    )


async def cycle(db: Path, sb: Sandbox, *, dry_run: bool = False, **cancel: Any) -> CycleResult:
    """One engine cycle of the account, the store opened and closed around it."""
    cfg = config(sb, **cancel)
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store, dry_run=dry_run) as engine:
            return await engine.cycle(ACCOUNT)


def history(db: Path) -> list[HistoryEntry]:
    """The journal, oldest first."""
    with Store.open(db, mode="reader") as store:
        return list(reversed(store.history(10_000)))


def steps(db: Path, number: str) -> list[tuple[str, bool, str]]:
    """(event, dry_run, reason) of the cancellation steps `history` shows about one posting,
    oldest first: the history without the alert messages (one entry removed per alert)."""
    messages = Counter((a["event"], tuple(a["numbers"]), a["reason"]) for a in alerts(db))
    found = []
    for entry in history(db):
        key = (entry.event, entry.posting_numbers, entry.reason)
        if messages[key] > 0:
            messages[key] -= 1
        elif entry.posting_numbers == (number,):
            found.append((entry.event, entry.dry_run, entry.reason))
    return found


def alerts(db: Path) -> list[dict[str, Any]]:
    """Every queued alert message, oldest first, with its payload (read straight from the
    database: the store offers no verb listing delivered alerts)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT event, posting_numbers, reason, payload, dry_run FROM alerts ORDER BY id"
        ).fetchall()
    return [
        {
            "event": event,
            "numbers": json.loads(numbers),
            "reason": reason,
            "payload": json.loads(payload),
            "dry_run": bool(dry_run),
        }
        for event, numbers, reason, payload, dry_run in rows
    ]


def alerts_of(db: Path, event: str) -> list[dict[str, Any]]:
    return [a for a in alerts(db) if a["event"] == event]


def payload_reasons(alert: dict[str, Any]) -> dict[str, str]:
    return {p["posting_number"]: p["reason"] for p in alert["payload"]["postings"]}


def cancel_calls(sb: Sandbox, number: str | None = None) -> list[Any]:
    return [c for c in sb.calls_to(CANCEL) if number is None or c.body["posting_number"] == number]


# ---------------------------------------------------------------- the normal path


async def test_each_eligible_posting_gets_exactly_one_cancel_request_across_cycles(
    sb: Sandbox, db: Path
) -> None:
    first, second = overdue(sb), overdue(sb, hours=60)
    young = overdue(sb, hours=47)  # not yet overdue_for 48h
    fresh(sb, 3)
    for _ in range(3):
        result = await cycle(db, sb)
        assert result.ok, result.error
    assert len(cancel_calls(sb, first)) == 1
    assert len(cancel_calls(sb, second)) == 1
    assert cancel_calls(sb, young) == []
    body = cancel_calls(sb, first)[0].body
    assert body["cancel_reason_id"] == 402
    assert body["cancel_reason_message"] == "Could not be shipped in time"
    assert sb.status(first) == sb.status(second) == "cancelled"
    ((message,),) = [[a] for a in alerts_of(db, "cancelled")]  # one message for both
    assert sorted(message["numbers"]) == sorted([first, second])
    assert "overdue by" in payload_reasons(message)[first]
    assert [e for e, _, _ in steps(db, first)] == ["cancelled"]
    assert not alerts_of(db, "cancelled_elsewhere")  # its departure is known to be ours
    assert not alerts_of(db, "would_cancel")


async def test_a_cancel_and_its_alert_are_one_commit_so_a_process_dying_next_loses_neither(
    sb: Sandbox, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor dies (as if killed) right after its second cancel: both cancels are
    recorded with their `cancelled` alerts, which the next cycle sends, in one message."""
    first, second = overdue(sb, hours=60), overdue(sb)
    sent: list[str] = []

    async def dying(
        self: CancelExecutor, claim: int, selection: Any, fresh: Any, reason_id: int
    ) -> None:
        await send(self, claim, selection, fresh, reason_id)
        sent.append(fresh.posting_number)
        if len(sent) == 2:
            raise RuntimeError("killed")

    send = CancelExecutor._send
    with monkeypatch.context() as patched:
        patched.setattr(CancelExecutor, "_send", dying)
        with pytest.raises(RuntimeError, match="killed"):
            await cycle(db, sb)
    assert sb.status(first) == sb.status(second) == "cancelled"
    with sqlite3.connect(db) as conn:  # each written with its outcome, not released yet
        staged = conn.execute(
            "SELECT event, count(*) FROM alerts WHERE staged = 1 GROUP BY event"
        ).fetchall()
    assert dict(staged)["cancelled"] == 2
    await cycle(db, sb)
    (message,) = alerts_of(db, "cancelled")
    assert sorted(message["numbers"]) == sorted([first, second])
    assert len(cancel_calls(sb)) == 2


async def test_every_request_is_preceded_by_a_re_read_and_a_reason_check(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    await cycle(db, sb)
    paths = [c.path for c in sb.calls if c.body and number in json.dumps(c.body)]
    assert paths[-3:] == [GET, REASONS, CANCEL]


# ---------------------------------------------------------------- never twice


async def test_an_answer_lost_after_ozon_applied_the_cancel_ends_as_cancelled_without_a_retry(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    sb.set_knobs(cancel_outcome="drop")
    await cycle(db, sb)
    sb.set_knobs(cancel_outcome="answer")
    await cycle(db, sb)
    assert len(cancel_calls(sb)) == 1
    assert [(e, r) for e, _, r in steps(db, number)] == [
        ("cancel_failed", "outcome unknown"),
        ("cancelled", "overdue by 2d 2h, over overdue_for 48h"),
    ]
    assert len(alerts_of(db, "cancelled")) == 1
    assert not alerts_of(db, "cancel_failed")  # settled in the same cycle: nothing to warn of


async def test_a_claim_left_by_a_killed_process_is_settled_by_a_re_read_not_a_second_request(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    await cycle(db, sb, enabled=False)  # cached, nothing sent
    with Store.open(db, mode="writer") as store:  # the killed process's claim
        store.claim_action(ACCOUNT, number, "cancel", settled(), dry_run=False, reason="overdue")
    sb.cancel_by_seller(number, 402)  # ... and Ozon applied its request
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    assert [(e, r) for e, dry, r in steps(db, number) if not dry] == [
        ("cancel_failed", "outcome unknown"),
        ("cancelled", "overdue"),
    ]
    assert len(alerts_of(db, "cancelled")) == 1
    assert not alerts_of(db, "cancelled_elsewhere")


async def test_a_killed_claim_on_a_posting_still_open_after_the_window_is_never_sent_again(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    fresh(sb, 5)  # the share breaker stays quiet
    await cycle(db, sb, enabled=False)
    with Store.open(db, mode="writer") as store:  # killed after the claim: maybe sent
        store.claim_action(ACCOUNT, number, "cancel", settled(), dry_run=False, reason="overdue")
    for _ in range(3):
        await cycle(db, sb)
    assert cancel_calls(sb) == [], "the request may have reached Ozon: never a second one"
    (alert,) = alerts_of(db, "cancel_failed")  # told once, not once per cycle
    assert "will not send it again" in alert["reason"], alert
    assert "seller portal" in alert["reason"] and "awaiting_packaging" in alert["reason"]
    real = [(e, r) for e, dry, r in steps(db, number) if not dry]
    assert [e for e, _ in real] == ["cancel_failed", "cancel_failed"], real
    assert real[0][1] == "outcome unknown" and "will not send it again" in real[1][1]
    assert sb.status(number) == "awaiting_packaging"


async def test_an_unknown_outcome_blocks_new_requests_before_and_after_a_re_read_settles_it(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    await cycle(db, sb, enabled=False)
    with Store.open(db, mode="writer") as store:
        claim = store.claim_action(
            ACCOUNT, number, "cancel", settled(), dry_run=False, reason="overdue"
        )
        assert claim is not None
        store.finish_action(claim, "unknown", settled(), reason="timed out")
    sb.set_knobs(forbidden_methods=[GET])  # the re-read is refused: it stays unknown
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []  # selected in both cycles, but the claim holds
    (warning,) = alerts_of(db, "cancel_failed")  # once per attempt, not per cycle
    assert warning["reason"].startswith("outcome unknown")
    sb.set_knobs(forbidden_methods=[])
    await cycle(db, sb)  # still open after the window: not applied, never sent again
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    real = [e for e, dry, _ in steps(db, number) if not dry]
    assert real == ["cancel_failed", "cancel_failed"]
    assert sb.status(number) == "awaiting_packaging"


async def test_an_unknown_outcome_on_a_posting_still_open_stays_open_for_the_settling_window(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    await cycle(db, sb, enabled=False)
    with Store.open(db, mode="writer") as store:  # a request sent a minute ago, answer lost
        claim = store.claim_action(
            ACCOUNT, number, "cancel", datetime.now(UTC) - timedelta(minutes=1), dry_run=False,
            reason="overdue",
        )  # fmt: skip
        assert claim is not None
        store.finish_action(claim, "unknown", datetime.now(UTC), reason="timed out")
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []  # still open, but Ozon may apply it late: no second request
    assert [e for e, dry, _ in steps(db, number) if not dry] == ["cancel_failed"]
    with Store.open(db, mode="reader") as store:
        (still,) = store.open_actions(ACCOUNT)
    assert still.outcome == "unknown"
    sb.cancel_by_seller(number, 402)  # ... applied late
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    assert len(alerts_of(db, "cancelled")) == 1
    assert not alerts_of(db, "cancelled_elsewhere")


async def test_a_404_on_the_settling_re_read_keeps_the_claim_open_and_the_cancel_ours(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    await cycle(db, sb, enabled=False)
    with Store.open(db, mode="writer") as store:
        claim = store.claim_action(
            ACCOUNT, number, "cancel", datetime.now(UTC), dry_run=False, reason="overdue"
        )
        assert claim is not None
        store.finish_action(claim, "unknown", datetime.now(UTC), reason="timed out")
    sb.cancel_by_seller(number, 402)  # Ozon applied it, but its next get answers 404
    sb.set_knobs(not_found_on_get=[number])
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    assert not alerts_of(db, "cancelled_elsewhere")
    (alert,) = alerts_of(db, "cancelled")
    assert alert["numbers"] == [number]


async def test_a_cancel_ozon_applies_after_the_settling_window_is_still_reported_as_ours(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    fresh(sb, 5)  # the share breaker stays quiet
    await cycle(db, sb, enabled=False)
    with Store.open(db, mode="writer") as store:
        claim = store.claim_action(
            ACCOUNT, number, "cancel", settled(), dry_run=False, reason="overdue"
        )
        assert claim is not None
        store.finish_action(claim, "unknown", settled(), reason="timed out")
    await cycle(db, sb, max_per_cycle=0)  # still open after the window: failed, no new request
    sb.cancel_by_seller(number, 402)  # ... and then Ozon applies the first request after all
    await cycle(db, sb, max_per_cycle=0)
    assert cancel_calls(sb) == []
    assert not alerts_of(db, "cancelled_elsewhere")
    assert [a["numbers"] for a in alerts_of(db, "cancelled")] == [[number]]


async def test_a_buyer_cancelling_while_our_outcome_was_unknown_is_cancelled_elsewhere(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    fresh(sb, 5)
    await cycle(db, sb, enabled=False)
    with Store.open(db, mode="writer") as store:
        claim = store.claim_action(
            ACCOUNT, number, "cancel", settled(), dry_run=False, reason="overdue"
        )
        assert claim is not None
        store.finish_action(claim, "unknown", settled(), reason="timed out")
    sb.cancel_by_buyer(number)
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    assert not alerts_of(db, "cancelled")
    assert [a["numbers"] for a in alerts_of(db, "cancelled_elsewhere")] == [[number]]


async def test_a_403_on_cancel_is_cancel_failed_with_that_reason_not_an_account_failure(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    sb.set_knobs(forbidden_methods=[CANCEL])
    first = await cycle(db, sb)
    second = await cycle(db, sb)
    assert first.ok and second.ok
    assert len(cancel_calls(sb)) == 1  # refused: not tried again for this deadline
    (alert,) = alerts_of(db, "cancel_failed")
    assert "403" in alert["reason"] and "role" in alert["reason"]
    assert not alerts_of(db, "api_error")
    assert steps(db, number)[-1][0] == "cancel_failed"


# ---------------------------------------------------------------- per-posting guards


async def test_a_reason_ozon_does_not_allow_fails_naming_the_allowed_ones_without_a_request(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    sb.set_knobs(cancel_reasons={number: [352, 400]})
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    (alert,) = alerts_of(db, "cancel_failed")
    assert "402 is not allowed" in alert["reason"]
    assert "352" in alert["reason"] and "400" in alert["reason"]
    assert sb.status(number) == "awaiting_packaging"
    # Nothing was sent: journalled as a planned cancel decided against, once.
    assert [e for e, _, _ in steps(db, number)] == ["cancel_skipped"]


async def test_a_posting_shipped_between_listing_and_re_reading_is_left_alone(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    sb.set_knobs(change_on_get={number: "ship"})
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    assert sb.status(number) == "awaiting_deliver"
    (alert,) = alerts_of(db, "would_cancel")
    assert "status awaiting_packaging -> awaiting_deliver" in alert["reason"]


async def test_a_moved_deadline_seen_on_re_reading_leaves_the_posting_alone_this_cycle(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    cfg = config(sb)
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            job = engine.job(ACCOUNT)
            now = datetime.now(UTC)
            result = await run_cycle(store, job, lambda: now)
            sb.move_deadline(number, now - 49 * HOUR)  # between listing and re-reading
            executor = CancelExecutor(store, job, now)
            report = await executor.execute(result.selected, watched=result.watched)
            release(store, now, job.routes, job.name)
    assert cancel_calls(sb) == []
    assert "shipment_date" in report.held_back[number]


async def test_a_deadline_moved_earlier_is_not_cancelled_in_the_cycle_that_reports_it(
    sb: Sandbox, db: Path
) -> None:
    number = sb.add_posting(datetime.now(UTC) + 72 * HOUR)
    fresh(sb, 5)  # the share breaker stays quiet
    await cycle(db, sb)  # cached with its deadline in three days
    sb.move_deadline(number, datetime.now(UTC) - 50 * HOUR)  # now long overdue
    await cycle(db, sb)
    assert cancel_calls(sb) == []  # the seller gets one cycle to react to deadline_changed
    assert [a["numbers"] for a in alerts_of(db, "deadline_changed")] == [[number]]
    await cycle(db, sb)
    assert len(cancel_calls(sb, number)) == 1


async def test_a_hold_placed_after_the_listing_is_checked_again_before_sending(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    cfg = config(sb)
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            job = engine.job(ACCOUNT)
            now = datetime.now(UTC)
            result = await run_cycle(store, job, lambda: now)
            assert [s.posting.posting_number for s in result.selected] == [number]
            store.hold(number, None, now)
            executor = CancelExecutor(store, job, now)
            report = await executor.execute(result.selected, watched=result.watched)
            release(store, now, job.routes, job.name)
    assert cancel_calls(sb) == []
    assert report.held_back == {number: "held by the seller"}
    assert "held by the seller" in alerts_of(db, "would_cancel")[0]["reason"]


async def test_a_held_posting_is_never_cancelled_and_is_after_release(
    sb: Sandbox, db: Path
) -> None:
    number = overdue(sb)
    with Store.open(db, mode="annotate") as store:
        store.hold(number, None, datetime.now(UTC))
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    with Store.open(db, mode="annotate") as store:
        store.release(number)
    await cycle(db, sb)
    assert len(cancel_calls(sb, number)) == 1


# ---------------------------------------------------------------- cycle-level guards


async def test_the_share_breaker_cancels_none_and_reports_each_once(sb: Sandbox, db: Path) -> None:
    numbers = [overdue(sb) for _ in range(3)]
    fresh(sb, 2)  # 3 of 5 watched = 0.6 > max_share 0.2
    await cycle(db, sb)
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    assert sb.calls_to(REASONS) == []
    (alert,) = alerts_of(db, "would_cancel")
    assert sorted(alert["numbers"]) == sorted(numbers)
    assert all("share breaker" in r for r in payload_reasons(alert).values())


async def test_the_share_breaker_counts_every_watched_posting_of_the_listing(
    sb: Sandbox, db: Path
) -> None:
    for _ in range(3):
        overdue(sb)
    fresh(sb, 12)  # 3 of 15 = 0.2, not more than max_share 0.2
    await cycle(db, sb)
    assert len(cancel_calls(sb)) == 3


async def test_max_per_cycle_lets_the_rest_wait_for_the_next_cycle(sb: Sandbox, db: Path) -> None:
    numbers = [overdue(sb, hours=60 - i) for i in range(3)]  # the most overdue first
    await cycle(db, sb, max_per_cycle=2, max_share=1.0)
    assert {c.body["posting_number"] for c in cancel_calls(sb)} == set(numbers[:2])
    (alert,) = alerts_of(db, "would_cancel")
    assert alert["numbers"] == [numbers[2]]
    assert "max_per_cycle 2" in alert["reason"]
    await cycle(db, sb, max_per_cycle=2, max_share=1.0)
    assert {c.body["posting_number"] for c in cancel_calls(sb)} == set(numbers)
    assert len(cancel_calls(sb)) == 3


async def test_a_clock_two_minutes_off_ozons_date_cancels_none(sb: Sandbox, db: Path) -> None:
    number = overdue(sb)
    sb.set_knobs(date_skew=300)
    await cycle(db, sb)
    assert cancel_calls(sb) == []
    (alert,) = alerts_of(db, "would_cancel")
    assert "behind Ozon's" in payload_reasons(alert)[number]
    sb.set_knobs(date_skew=30)
    await cycle(db, sb)
    assert len(cancel_calls(sb)) == 1


async def test_a_cycle_whose_listing_did_not_complete_cancels_nothing(
    sb: Sandbox, db: Path
) -> None:
    overdue(sb)
    fresh(sb, 150)  # two pages
    sb.set_knobs(malformed_page=2)
    result = await cycle(db, sb)
    assert not result.listing_complete
    assert cancel_calls(sb) == [] and sb.calls_to(GET) == []


# ---------------------------------------------------------------- dry run


@pytest.mark.parametrize(
    ("enabled", "dry_run"), [(False, False), (True, True)], ids=["enabled=false", "--dry-run"]
)
async def test_a_dry_run_journals_each_planned_cancellation_once_and_sends_nothing(
    sb: Sandbox, db: Path, enabled: bool, dry_run: bool
) -> None:
    first, second = overdue(sb), overdue(sb, hours=70)
    for _ in range(2):
        await cycle(db, sb, enabled=enabled, dry_run=dry_run)
    assert cancel_calls(sb) == [] and sb.calls_to(REASONS) == []
    (alert,) = alerts_of(db, "would_cancel")
    assert sorted(alert["numbers"]) == sorted([first, second])
    assert alert["dry_run"]
    for number in (first, second):
        (step,) = steps(db, number)
        assert step[0] == "would_cancel" and step[1] is True
        assert "dry run, nothing is cancelled" in step[2]


async def test_when_ozon_stops_answering_the_remaining_postings_wait_for_the_next_cycle(
    sb: Sandbox, db: Path
) -> None:
    first, second = overdue(sb, hours=60), overdue(sb)
    cfg = config(sb)
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            job = engine.job(ACCOUNT)
            now = datetime.now(UTC)
            result = await run_cycle(store, job, lambda: now)
            sb.set_knobs(drop_rate=1.0)  # from now on no answer at all
            executor = CancelExecutor(store, job, now)
            report = await executor.execute(result.selected, watched=result.watched)
            release(store, now, job.routes, job.name)
    assert len(sb.calls_to(GET)) == 1  # one posting tried, the other not
    assert report.failed == []  # the re-read failed: nothing sent, cancel_skipped, no alert
    assert [e for e, _, _ in steps(db, first)] == ["cancel_skipped"]
    assert cancel_calls(sb) == []
    sb.set_knobs(drop_rate=0.0)
    await cycle(db, sb)
    assert {c.body["posting_number"] for c in cancel_calls(sb)} == {first, second}
