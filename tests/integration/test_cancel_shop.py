"""Cancel claims belong to the shop (Client-Id), not to the config entry (issue 15, point 3):
an account renamed in the config never sends a second request for a posting whose cancel is
still open, and settles that open claim itself. The Engine runs against the sandbox in a
thread, the store opened anew for every cycle as if the process restarted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.config import Config, parse_config, resolve_secrets
from daemon.engine import Engine
from daemon.sandbox import Knobs, Sandbox
from daemon.store import Store
from tests.sandbox_fixtures import MakeSandbox

CANCEL = "/v2/posting/fbs/cancel"


async def test_a_renamed_account_sends_no_second_request_and_settles_the_open_claim(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    db = tmp_path / "state.db"

    async def cycle(name: str) -> None:
        cfg = parse_config(
            {
                "ozon": {"base_url": sb.base_url, "retry_for": "0s", "timeout": "5s"},
                "accounts": [{"name": name, "client_id": sb.client_id, "api_key_env": "KEY"}],
                "policy": {"cancel": {"enabled": True}},
            }
        )
        secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
        with Store.open(db, mode="writer") as store:
            async with Engine(cfg, secrets, store) as engine:
                await engine.cycle(name)

    sb.set_knobs(cancel_outcome="drop", cancel_apply_delay=600)  # applied late, answer lost
    await cycle("shop-1")
    assert len(sb.calls_to(CANCEL)) == 1
    await cycle("shop-main")  # the same shop, renamed in the config
    assert len(sb.calls_to(CANCEL)) == 1  # the open claim is the shop's: no second request
    sb.cancel_by_seller(number, 402)  # Ozon applies it
    await cycle("shop-main")
    with Store.open(db, mode="reader") as store:
        assert store.open_actions() == []  # settled by the renamed account
        events = [e.event for e in store.history(100) if number in e.posting_numbers]
    assert "cancelled" in events and "cancelled_elsewhere" not in events


def shop_config(sb: Sandbox, accounts: list[dict[str, Any]]) -> Config:
    return parse_config(
        {
            "ozon": {"base_url": sb.base_url, "retry_for": "0s", "timeout": "5s"},
            "accounts": accounts,
            "policy": {"cancel": {"enabled": True, "max_per_cycle": 1, "max_share": 1.0}},
        }
    )


async def test_two_entries_splitting_one_shop_share_its_max_per_cycle(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    late = datetime.now(UTC) - timedelta(hours=50)
    warehouses = [1020001234567000, 1020001987654000]  # two of the sandbox's warehouses
    for warehouse in warehouses:
        sb.add_posting(late, warehouse_id=warehouse)
    cfg = shop_config(
        sb,
        [
            {
                "name": f"wh-{w}",
                "client_id": sb.client_id,
                "api_key_env": "KEY",
                "warehouse_ids": [w],
            }
            for w in warehouses
        ],
    )
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            outcome = await engine.cycle_all()
            assert all(result.selected for result in outcome.results)  # one each
            assert len(sb.calls_to(CANCEL)) == 1  # max_per_cycle 1 counts per Client-Id
            await engine.cycle_all()
    assert len(sb.calls_to(CANCEL)) == 2


async def test_the_extra_cycle_after_a_wake_up_shares_max_per_cycle_with_the_regular_one(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    for hours in (50, 51):
        sb.add_posting(datetime.now(UTC) - timedelta(hours=hours))
    cfg = shop_config(sb, [{"name": "shop-1", "client_id": sb.client_id, "api_key_env": "KEY"}])
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    clock = [datetime.now(UTC)]
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(cfg, secrets, store, now=lambda: clock[0]) as engine:
            await engine.cycle("shop-1")
            await engine.cycle("shop-1", extra=True)  # the same poll interval
            assert len(sb.calls_to(CANCEL)) == 1
            clock[0] += cfg.daemon.poll_interval  # the next regular cycle
            await engine.cycle("shop-1")
    assert len(sb.calls_to(CANCEL)) == 2


async def test_the_share_breaker_counts_the_whole_shop_of_entries_splitting_it(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    big, small = 1020001234567000, 1020001987654000  # two of the sandbox's warehouses
    for _ in range(20):  # the shop's big warehouse: nothing late
        sb.add_posting(datetime.now(UTC) + timedelta(hours=72), warehouse_id=big)
    late = [
        sb.add_posting(datetime.now(UTC) - timedelta(hours=50 + i), warehouse_id=small)
        for i in range(3)
    ]
    sb.add_posting(datetime.now(UTC) + timedelta(hours=72), warehouse_id=small)
    cfg = parse_config(
        {
            "ozon": {"base_url": sb.base_url, "retry_for": "0s", "timeout": "5s"},
            "accounts": [
                {"name": f"wh-{w}", "client_id": sb.client_id, "api_key_env": "KEY",
                 "warehouse_ids": [w]}
                for w in (big, small)
            ],
            "policy": {"cancel": {"enabled": True}},
        }
    )  # fmt: skip
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        async with Engine(cfg, secrets, store) as engine:
            await engine.cycle_all()
    # 3 of the small warehouse's 4 would trip max_share 0.2; 3 of the shop's 24 do not
    assert sorted(c.body["posting_number"] for c in sb.calls_to(CANCEL)) == sorted(late)
