"""Ozon's numbers about the seller (issue 20): the ratings and the FBS error index read once per
account and local day from the sandbox and kept; a key without the role (403) kept as such and
said once in the digest, never an api_error; the per-warehouse figures of the digest from the
local history; and the advice of an overdue alert weighed with the kept numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from daemon.cycle import run_cycle
from daemon.digest import queue_due_digests
from daemon.job import AccountJob
from daemon.models import AccessDenied, AccountRatings, ErrorIndex, Posting, RatingSummary
from daemon.ozon.client import OzonClient
from daemon.policy import Rules
from daemon.ratingcheck import digest_ratings, read_ratings_if_due
from daemon.redact import register_secrets
from daemon.sandbox import Knobs, Sandbox
from daemon.store import Store

MOSCOW = ZoneInfo("Europe/Moscow")
SUMMARY, INDEX = "/v1/rating/summary", "/v1/rating/index/fbs/info"
FORBID = [SUMMARY, INDEX]


def client_of(sandbox: Sandbox, retry_for: float = 5) -> OzonClient:
    return OzonClient(
        sandbox.client_id, sandbox.api_key, base_url=sandbox.base_url, retry_for=retry_for
    )


async def test_ratings_are_read_once_per_local_day_and_kept(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    knobs = Knobs(rate_limit=0, ratings={"rating_shipment_delay": 12.0}, error_index=0.052)
    sandbox = make_sandbox(knobs=knobs)
    now = datetime.now(UTC)
    async with client_of(sandbox) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            assert await read_ratings_if_due(store, [job], MOSCOW, now) == ["shop-1"]
            assert await read_ratings_if_due(store, [job], MOSCOW, now + timedelta(hours=1)) == []
            kept = store.account_ratings("shop-1")
            tomorrow = now + timedelta(days=1)
            assert await read_ratings_if_due(store, [job], MOSCOW, tomorrow) == ["shop-1"]
    assert isinstance(kept.summary, RatingSummary) and isinstance(kept.index, ErrorIndex)
    delay = kept.summary.shipment_delay
    assert delay is not None and (delay.value, delay.status) == (12.0, "CRITICAL")
    assert kept.index.index == 0.052
    assert kept.read_at == now
    assert len(sandbox.calls_to(SUMMARY)) == len(sandbox.calls_to(INDEX)) == 2


async def test_a_key_without_the_rating_role_is_kept_as_denied_and_said_once(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, forbidden_methods=FORBID))
    now = datetime.now(UTC)
    async with client_of(sandbox) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            assert await read_ratings_if_due(store, [job], MOSCOW, now) == ["shop-1"]
            kept = store.account_ratings("shop-1")
            first = digest_ratings(store, "shop-1", now)
            second = digest_ratings(store, "shop-1", now + timedelta(days=1))
            await read_ratings_if_due(store, [job], MOSCOW, now + timedelta(days=1))
            third = digest_ratings(store, "shop-1", now + timedelta(days=1))
            history = [entry.event for entry in store.history()]
    assert isinstance(kept.summary, AccessDenied) and isinstance(kept.index, AccessDenied)
    assert kept.index.path == INDEX
    assert first["ozon"]["denied"] == [SUMMARY, INDEX]
    assert "denied" not in second["ozon"] and "denied" not in third["ozon"]  # said once
    assert "api_error" not in history


async def test_a_role_given_and_taken_again_is_a_new_denial_said_again(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    now = datetime.now(UTC)
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        denied = AccessDenied(path=INDEX, code=7, message="no role")
        store.record_ratings("shop-1", None, denied, now)
        assert digest_ratings(store, "shop-1", now)["ozon"]["denied"] == [INDEX]
        store.record_ratings("shop-1", None, denied, now + timedelta(days=1))
        assert "denied" not in digest_ratings(store, "shop-1", now)["ozon"]
        store.record_ratings("shop-1", None, ErrorIndex(index=0.01), now + timedelta(days=2))
        store.record_ratings("shop-1", None, denied, now + timedelta(days=3))
        assert digest_ratings(store, "shop-1", now)["ozon"]["denied"] == [INDEX]


async def test_a_failing_rating_method_only_warns_and_is_asked_again_on_a_later_cycle(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, fail_next=1))
    now = datetime.now(UTC)
    async with client_of(sandbox, retry_for=0) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            assert await read_ratings_if_due(store, [job], MOSCOW, now) == []
            assert store.account_ratings("shop-1") == AccountRatings()
            assert await read_ratings_if_due(store, [job], MOSCOW, now) == ["shop-1"]
            history = [entry.event for entry in store.history()]
    assert len(sandbox.calls_to(SUMMARY)) == 2
    assert "api_error" not in history


async def test_the_digest_carries_ratings_the_index_and_per_warehouse_figures(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    """Per warehouse over 14 days: shipped (late or not), cancelled by ozon-sync (a cancel
    request of ours was done) and cancelled elsewhere; older departures do not count."""
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, error_index=0.12))
    now = datetime.now(UTC)
    main = {"warehouse_id": 1, "warehouse_name": "Main"}
    kazan = {"warehouse_id": 2, "warehouse_name": "Kazan"}

    def made(number: str, where: dict[str, Any], **fields: Any) -> Posting:
        base = {"posting_number": number, "status": "awaiting_packaging", "shipment_date": now}
        return Posting(**(base | where | fields))

    watched = [
        made("1-1", main), made("1-2", main), made("1-3", main), made("1-4", main),
        made("2-1", kazan), made("2-2", kazan), made("old-1", kazan),
    ]  # fmt: skip
    gone = [
        made("1-1", main, status="delivering", delivering_date=now - timedelta(hours=1)),
        made("1-2", main, status="delivering", delivering_date=now + timedelta(hours=1)),
        made("1-3", main, status="cancelled"),
        made("1-4", main, status="cancelled"),
        made("2-1", kazan, status="cancelled"),
        made("2-2", kazan, status="delivering", delivering_date=now - timedelta(hours=2)),
    ]
    async with client_of(sandbox) as client:
        job = AccountJob("shop-1", client, Rules(), routes=lambda _account, _event: ["phone"])
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            store.upsert_postings("shop-1", watched, now - timedelta(days=20))
            store.mark_departed("shop-1", [made("old-1", kazan, status="cancelled")],
                                now - timedelta(days=15))  # fmt: skip
            store.mark_departed("shop-1", gone, now)
            claim = store.claim_action("shop-1", "1-3", "cancel", now, dry_run=False, reason="x")
            assert claim is not None
            store.finish_action(claim, "done", now)
            dry = store.claim_action("shop-1", "1-4", "cancel", now, dry_run=True, reason="x")
            assert dry is not None
            store.finish_action(dry, "done", now)  # a dry run cancels nothing
            await read_ratings_if_due(store, [job], MOSCOW, now)
            queue_due_digests(store, [job], MOSCOW, time(0, 0), now + timedelta(minutes=1))
            (delivery,) = store.deliveries_due(now + timedelta(minutes=1))
            payload = delivery.alert.payload
    figures = payload["digest"]["warehouses"]
    assert figures == [
        {"warehouse_id": 2, "warehouse": "Kazan", "shipped": 1, "shipped_late": 0,
         "cancelled_by_us": 0, "cancelled_elsewhere": 1},
        {"warehouse_id": 1, "warehouse": "Main", "shipped": 2, "shipped_late": 1,
         "cancelled_by_us": 1, "cancelled_elsewhere": 1},
    ]  # fmt: skip
    ozon = payload["digest"]["ozon"]
    assert ozon["error_index"]["percent"] == 12.0 and ozon["error_index"]["zone"] == "yellow"
    assert [r["rating"] for r in ozon["ratings"]] == [
        "rating_order_cancellation",
        "rating_shipment_delay",
    ]


async def test_an_overdue_alert_carries_the_advice_weighed_with_the_kept_numbers(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, error_index=0.45))
    now = datetime.now(UTC)
    async with client_of(sandbox) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            await read_ratings_if_due(store, [job], MOSCOW, now)
            result = await run_cycle(store, job, lambda: now)
            assert result.ok
            (overdue,) = [a for a in store.staged_alerts("shop-1") if a.event == "overdue"]
    assert overdue.payload["postings"]
    for item in overdue.payload["postings"]:
        advice = item["advice"]
        assert advice["error_index"] == 45.0 and advice["zone"] == "red"
        assert advice["reason"] and " late" not in advice["reason"]  # the same a moment later
        if advice["rule"] != "free":  # shipping still free: nothing to weigh
            assert (advice["recommendation"], advice["rule"]) == ("ship", "red_zone"), advice


def test_a_403_message_echoing_a_secret_is_kept_masked(tmp_path: Path) -> None:
    """Ozon's message is outside text: an error body that echoes the key is stored masked."""
    secret = "o20-ratings-Sekr1t-4d2c9e7a"
    register_secrets([secret])
    now = datetime.now(UTC)
    echo = AccessDenied(path=INDEX, code=7, message=f"no role for key {secret}")
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        store.record_ratings("shop-1", echo, echo, now)
        kept = store.account_ratings("shop-1")
        assert store.unnoted_denials("shop-1")[0].message == "no role for key ***"
    assert isinstance(kept.index, AccessDenied) and kept.index.message == "no role for key ***"
    for path in tmp_path.glob("s.db*"):
        assert secret.encode() not in path.read_bytes()
