"""Cancel claims belong to the shop (Client-Id), not to the config entry (issue 15, point 3):
an account renamed in the config never sends a second request for a posting whose cancel is
still open, and settles that open claim itself. The Engine runs against the sandbox in a
thread, the store opened anew for every cycle as if the process restarted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.config import parse_config, resolve_secrets
from daemon.engine import Engine
from daemon.sandbox import Knobs
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
