"""Right before every single cancel request the executor asks again (issue 15, points 4 and 7):
the live `cancel.enabled` (a SIGHUP reload publishes its rules before the cycle in flight
ends), a hold or `hold --all` placed meanwhile. The Engine runs against the sandbox in a thread;
the setting or hold changes while the cycle is reading, from the client's `on_request` hook."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.config import Config, parse_config, resolve_secrets
from daemon.engine import Engine
from daemon.ozon.session import RequestEvent
from daemon.policy_rules import Rules
from daemon.sandbox import Knobs, Sandbox
from daemon.store import HistoryEntry, Store
from tests.sandbox_fixtures import MakeSandbox

CANCEL = "/v2/posting/fbs/cancel"
REASONS = "/v1/posting/fbs/cancel-reason"
ACCOUNT = "shop-1"


@pytest.fixture
def sb(make_sandbox: MakeSandbox) -> Sandbox:
    return make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)


def config(sb: Sandbox) -> Config:
    return parse_config(
        {
            "ozon": {"base_url": sb.base_url, "retry_for": "0s", "timeout": "5s"},
            "accounts": [{"name": ACCOUNT, "client_id": sb.client_id, "api_key_env": "KEY"}],
            "policy": {"cancel": {"enabled": True}},
        }
    )


def overdue(sb: Sandbox) -> list[str]:
    return [sb.add_posting(datetime.now(UTC) - timedelta(hours=50 + i)) for i in range(2)]


def skipped(db: Path) -> list[HistoryEntry]:
    with Store.open(db, mode="reader") as store:
        return [e for e in store.history(100) if e.event == "cancel_skipped"]


async def test_a_reload_that_disables_cancelling_stops_the_very_next_request(
    sb: Sandbox, tmp_path: Path
) -> None:
    numbers = overdue(sb)
    cfg = config(sb)
    live: dict[str, Rules] = {ACCOUNT: cfg.rules_for(cfg.accounts[0])}
    off = dataclasses.replace(live[ACCOUNT].cancel, enabled=False)

    def reload_on_first_reason_check(event: RequestEvent) -> None:  # SIGHUP, mid-cycle
        if event.path == REASONS:
            live[ACCOUNT] = dataclasses.replace(live[ACCOUNT], cancel=off)

    db = tmp_path / "state.db"
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(
            cfg, secrets, store, live_rules=live, on_request=reload_on_first_reason_check
        ) as engine:
            result = await engine.cycle(ACCOUNT)
    assert len(result.selected) == 2
    assert sb.calls_to(CANCEL) == []  # not even the posting whose checks were under way
    (entry,) = skipped(db)  # the second one was not even claimed: the executor stopped
    assert entry.posting_numbers[0] in numbers
    assert "cancel.enabled is now false" in entry.reason


async def test_hold_all_placed_while_the_cycle_reads_stops_the_next_request(
    sb: Sandbox, tmp_path: Path
) -> None:
    overdue(sb)
    cfg = config(sb)
    db = tmp_path / "state.db"
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:

        def hold_all_on_first_reason_check(event: RequestEvent) -> None:  # `hold --all`
            if event.path == REASONS:
                store.hold_all(None, datetime.now(UTC))

        async with Engine(cfg, secrets, store, on_request=hold_all_on_first_reason_check) as e:
            await e.cycle(ACCOUNT)
    assert sb.calls_to(CANCEL) == []
    (entry,) = skipped(db)
    assert "held by the seller" in entry.reason


async def test_the_clock_guard_is_asked_before_each_send_not_once_per_cycle(
    sb: Sandbox, tmp_path: Path
) -> None:
    overdue(sb)
    cfg = config(sb)
    db = tmp_path / "state.db"
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)

    def skew_after_the_re_read(event: RequestEvent) -> None:  # Ozon's Date jumps mid-cycle
        if event.path == "/v3/posting/fbs/get":
            sb.set_knobs(date_skew=300)

    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store, on_request=skew_after_the_re_read) as engine:
            await engine.cycle(ACCOUNT)
    assert sb.calls_to(CANCEL) == []
    assert any("clock" in entry.reason for entry in skipped(db))
