"""`[policy.cancel] respect_advice` in the cancel path (issue 20 point 4): a posting the
ship-or-cancel advice (`daemon.advice`) says to ship is not cancelled, neither by the plan nor
by the re-check right before the request; it is journalled `cancel_skipped` with the advice's
reason and told as `would_cancel`, once per posting and deadline. The Engine runs against the
sandbox in a thread (its error index and rating methods are Ozon's numbers) with a real store."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config, parse_config, resolve_secrets
from daemon.engine import Engine
from daemon.ozon.session import RequestEvent
from daemon.policy_rules import Rules
from daemon.sandbox import Knobs, Sandbox
from daemon.store import HistoryEntry, Store
from tests.sandbox_fixtures import MakeSandbox

CANCEL = "/v2/posting/fbs/cancel"
GET = "/v3/posting/fbs/get"
INDEX = "/v1/rating/index/fbs/info"
ACCOUNT = "shop-1"
RED = 0.45  # an error index of 45 %: a seller cancellation may get the account blocked


@pytest.fixture
def sb(make_sandbox: MakeSandbox) -> Sandbox:
    sandbox = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    for _ in range(8):  # watched, due in three days: the share breaker stays quiet
        sandbox.add_posting(datetime.now(UTC) + timedelta(hours=72))
    return sandbox


def config(sb: Sandbox, **cancel: Any) -> Config:
    return parse_config(
        {
            "ozon": {"base_url": sb.base_url, "retry_for": "0s", "timeout": "5s"},
            "accounts": [{"name": ACCOUNT, "client_id": sb.client_id, "api_key_env": "KEY"}],
            "policy": {"cancel": {"enabled": True, **cancel}},
        }
    )


async def cycles(
    sb: Sandbox, db: Path, cfg: Config, count: int = 1, **engine: Any
) -> list[HistoryEntry]:
    """`count` cycles of the account; the history afterwards, oldest first."""
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store, **engine) as running:
            for _ in range(count):
                await running.cycle(ACCOUNT)
        return list(reversed(store.history(1000)))


def about(history: list[HistoryEntry], number: str, event: str) -> list[HistoryEntry]:
    return [e for e in history if e.event == event and number in e.posting_numbers]


async def test_a_posting_the_advice_says_to_ship_is_skipped_once_per_deadline_not_cancelled(
    sb: Sandbox, tmp_path: Path
) -> None:
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    sb.set_knobs(error_index=RED)

    history = await cycles(sb, tmp_path / "state.db", config(sb), count=3)

    assert sb.calls_to(CANCEL) == []
    assert [c.body["posting_number"] for c in sb.calls_to(GET)] == []  # not even claimed
    (skipped,) = about(history, number, "cancel_skipped")
    assert skipped.kind == "action" and not skipped.dry_run
    assert "advice says ship" in skipped.reason and "red" in skipped.reason
    (told,) = [e for e in about(history, number, "would_cancel") if e.kind == "alert"]
    assert "respect_advice" in told.reason
    assert about(history, number, "cancel_failed") == []


async def test_with_respect_advice_off_the_same_posting_is_cancelled(
    sb: Sandbox, tmp_path: Path
) -> None:
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    sb.set_knobs(error_index=RED)

    history = await cycles(sb, tmp_path / "state.db", config(sb, respect_advice=False))

    assert [c.body["posting_number"] for c in sb.calls_to(CANCEL)] == [number]
    assert about(history, number, "cancel_skipped") == []
    assert sb.calls_to(INDEX) == []  # Ozon's numbers are not even read


async def test_a_key_without_the_rating_role_gives_no_numbers_and_holds_nothing_back(
    sb: Sandbox, tmp_path: Path
) -> None:
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    sb.set_knobs(
        error_index=RED, forbidden_methods=[INDEX, "/v1/rating/summary"]
    )  # 403: "decide", the clock decides

    await cycles(sb, tmp_path / "state.db", config(sb))

    assert [c.body["posting_number"] for c in sb.calls_to(CANCEL)] == [number]


async def test_the_advice_is_asked_again_right_before_the_request(
    sb: Sandbox, tmp_path: Path
) -> None:
    """respect_advice turned on by a reload while the cycle re-reads the posting: the check
    right before the request obeys it (the plan was made without the advice)."""
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    sb.set_knobs(error_index=RED)
    cfg = config(sb, respect_advice=False)
    live: dict[str, Rules] = {ACCOUNT: cfg.rules_for(cfg.accounts[0])}
    respect = dataclasses.replace(live[ACCOUNT].cancel, respect_advice=True)

    def reload_while_re_reading(event: RequestEvent) -> None:  # SIGHUP, mid-cycle
        if event.path == GET:
            live[ACCOUNT] = dataclasses.replace(live[ACCOUNT], cancel=respect)

    history = await cycles(
        sb, tmp_path / "state.db", cfg, live_rules=live, on_request=reload_while_re_reading
    )

    assert [c.body["posting_number"] for c in sb.calls_to(GET)] == [number]
    assert sb.calls_to(CANCEL) == []
    (skipped,) = about(history, number, "cancel_skipped")
    assert skipped.reason.startswith("not sent: the ship-or-cancel advice says ship")
