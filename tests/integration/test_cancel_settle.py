"""Settling re-reads of a cancel whose outcome is unknown (issue 15 point 1; issue 23 point 2):
when the `run` service re-reads an open claim (about 10 s, 1 min and 5 min after it, then the
cycles), which entry of a shop settles it, and what the log says when the re-read keeps
failing. A real SQLite store in tmp_path and the sandbox in a thread; the `run` service's
scheduling of these re-reads is proven end to end in tests/e2e/test_cancel_settle_e2e.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from daemon.cancel_outcome import SETTLE, SETTLE_READS, CancelOutcomes
from daemon.config import Config, parse_config, resolve_secrets
from daemon.engine import Engine
from daemon.sandbox import Knobs, Sandbox
from daemon.store import Store
from tests.sandbox_fixtures import MakeSandbox

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def sb(make_sandbox: MakeSandbox) -> Sandbox:
    return make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)


def config(sb: Sandbox, *names: str, warehouses: tuple[list[int], ...] = ()) -> Config:
    return parse_config(
        {
            "ozon": {"base_url": sb.base_url, "retry_for": "0s", "timeout": "5s"},
            "accounts": [
                {"name": name, "client_id": sb.client_id, "api_key_env": "KEY",
                 "warehouse_ids": warehouses[i] if warehouses else []}
                for i, name in enumerate(names or ("shop-1",))
            ],
            "policy": {"cancel": {"enabled": True}},
        }
    )  # fmt: skip


def unknown_claim(store: Store, account: str, number: str, at: datetime, client_id: str) -> int:
    """A cancel claim made at `at` whose answer was lost."""
    claim = store.claim_action(
        account, number, "cancel", at, dry_run=False, reason="overdue", client_id=client_id
    )
    assert claim is not None
    store.finish_action(claim, "unknown", at, reason="timed out")
    return claim


async def test_an_open_claim_is_re_read_about_10_s_1_min_and_5_min_after_it_then_by_cycles(
    sb: Sandbox, tmp_path: Path
) -> None:
    cfg = config(sb)
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            job = engine.job("shop-1")
            assert CancelOutcomes(store, job, T0).next_read() is None  # nothing open
            unknown_claim(store, "shop-1", "1000-0001-1", T0, sb.client_id)
            unknown_claim(store, "shop-1", "1000-0002-1", T0 + 30 * SECOND, sb.client_id)
            moments = []
            now = T0
            while (when := CancelOutcomes(store, job, now).next_read()) is not None:
                moments.append(when)
                now = when
    first = [T0 + after for after in SETTLE_READS]
    second = [T0 + 30 * SECOND + after for after in SETTLE_READS]
    assert moments == sorted(first + second)
    assert (10 * SECOND, timedelta(minutes=1), timedelta(minutes=5)) == SETTLE_READS
    assert timedelta(minutes=10) <= SETTLE  # then the cycles re-read until it has passed


async def test_a_re_read_failing_again_and_again_is_one_warning_and_one_alert(
    sb: Sandbox, tmp_path: Path
) -> None:
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    cfg = config(sb)
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    now = datetime.now(UTC)
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(cfg, secrets, store, dry_run=True) as engine:
            await engine.cycle("shop-1")  # cached, nothing sent
        async with Engine(cfg, secrets, store) as engine:
            claim = unknown_claim(store, "shop-1", number, now, sb.client_id)
            with structlog.testing.capture_logs() as logs:
                for _ in range(4):  # the settling re-reads, each answered 404
                    sb.set_knobs(not_found_on_get=[number])
                    await engine.settle("shop-1")
            (still,) = store.open_actions("shop-1")
            entries = store.history(100)
            told = [e for e in entries if (e.kind, e.event) == ("alert", "cancel_failed")]
    assert still.id == claim and still.outcome == "unknown"  # the claim stays open
    found = [line for line in logs if line.get("posting_number") == number]
    assert [line["log_level"] for line in found] == ["warning", "debug", "debug", "debug"]
    assert all("re-read failed" in line["reason"] for line in found)
    assert len(told) == 1


async def test_a_claim_of_an_entry_still_in_the_config_is_settled_by_that_entry_alone(
    sb: Sandbox, tmp_path: Path
) -> None:
    north, south = 1020001234567000, 1020001987654000  # two of the sandbox's warehouses
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50), warehouse_id=south)
    cfg = config(sb, "north", "south", warehouses=([north], [south]))
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    now = datetime.now(UTC)
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            unknown_claim(store, "south", number, now, sb.client_id)
            assert CancelOutcomes(store, engine.job("north"), now).open_claims() == []
            (mine,) = CancelOutcomes(store, engine.job("south"), now).open_claims()
            assert mine.posting_number == number
            # renamed: the claim of an entry gone from the config goes to the entry watching
            # the posting's warehouse (known from the old entry's cache)
            await engine.cycle("south")
    renamed = config(sb, "north", "south-2", warehouses=([north], [south]))
    secrets = resolve_secrets(renamed, {"KEY": sb.api_key}, routes=False)
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(renamed, secrets, store) as engine:
            assert CancelOutcomes(store, engine.job("north"), now).open_claims() == []
            (adopted,) = CancelOutcomes(store, engine.job("south-2"), now).open_claims()
    assert adopted.posting_number == number and adopted.account == "south"
