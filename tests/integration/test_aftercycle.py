"""What follows a cycle (daemon.aftercycle), as `once` runs it against the sandbox, and the
process-wide tuning that belongs to the entry points, not to the engine."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.config import Config, parse_config, resolve_secrets
from daemon.engine import Engine, tune_gc
from daemon.once import run_once
from daemon.sandbox import Knobs, Sandbox
from daemon.store import Store


def config(sandbox: Sandbox, tmp_path: Path) -> Config:
    return parse_config(
        {
            "daemon": {"database": str(tmp_path / "state.db")},
            "ozon": {"base_url": sandbox.base_url, "retry_for": "0s"},
            "accounts": [{"name": "shop-1", "client_id": sandbox.client_id, "api_key_env": "KEY"}],
        }
    )


async def test_once_checks_the_key_of_an_account_whose_cycle_failed(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    """`once` and `run` run the same pipeline: key expiry for every account, synced or not
    (`once` used to ask only for the accounts whose cycle succeeded)."""
    sandbox = make_sandbox(
        knobs=Knobs(
            rate_limit=0,
            key_expires_in="3d",
            forbidden_methods=["/v4/posting/fbs/unfulfilled/list"],
        )
    )
    cfg = config(sandbox, tmp_path)
    secrets = resolve_secrets(cfg, {"KEY": sandbox.api_key}, routes=False)
    with Store.open(cfg.database_path(), mode="writer") as store:
        outcome = await run_once(cfg, secrets, store)
        events = [entry.event for entry in store.history()]
    assert not outcome.ok  # the listing was refused
    assert "key_expiring" in events
    assert len(sandbox.calls_to("/v1/roles")) == 1


@pytest.fixture
def gc_state() -> Iterator[tuple[tuple[int, int, int], int]]:
    state = gc.get_threshold(), gc.get_freeze_count()
    yield state
    gc.unfreeze()
    gc.set_threshold(*state[0])


async def test_building_an_engine_leaves_the_garbage_collector_alone(
    tmp_path: Path, sandbox: Sandbox, gc_state: tuple[tuple[int, int, int], int]
) -> None:
    cfg = config(sandbox, tmp_path)
    secrets = resolve_secrets(cfg, {"KEY": sandbox.api_key}, routes=False)
    with Store.open(cfg.database_path(), mode="writer") as store:
        async with Engine(cfg, secrets, store):
            assert (gc.get_threshold(), gc.get_freeze_count()) == gc_state
    tune_gc()  # what `run` and `once` call at start-up
    assert gc.get_threshold()[0] >= 20_000
    assert gc.get_freeze_count() > 0
