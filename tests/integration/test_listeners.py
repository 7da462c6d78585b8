"""The `run` process's HTTP listeners (daemon.web.listeners) on real sockets: /healthz,
/metrics and the board on one server when `[health] listen` and `[board] listen` name the same
address, on two otherwise; an address that cannot be bound is a config error naming
`health.listen` (exit 78) or, for the board alone, a BoardListenError (exit 75)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.config import ConfigError, parse_config
from daemon.health import Health
from daemon.metrics import Metrics
from daemon.store import Store
from daemon.web.listeners import Listeners
from daemon.web.settings import BoardListenError

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db", mode="writer") as opened:
        yield opened


def config(health: str | None, board: str | None) -> Any:
    raw: dict[str, Any] = {
        "accounts": [{"name": "shop-1", "client_id": "1", "api_key_env": "K"}],
    }
    if health:
        raw["health"] = {"listen": health}
    if board:
        raw["board"] = {"listen": board}
    return parse_config(raw)


async def start(cfg: Any, store: Store) -> Listeners:
    health = Health(timedelta(minutes=5), ["shop-1"], started_at=NOW)
    return await Listeners.start(cfg, store, health, Metrics(["shop-1"]), now=lambda: NOW)


async def test_one_address_serves_health_metrics_and_the_board(store: Store) -> None:
    address = f"127.0.0.1:{free_port()}"
    listeners = await start(config(address, address), store)
    try:
        assert len(listeners.servers) == 1
        async with httpx.AsyncClient(base_url=f"http://{address}") as client:
            healthz = await client.get("/healthz")
            assert healthz.status_code == 200 and healthz.text.startswith("ok: ")
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert 'ozon_sync_cycles_total{account="shop-1",result="ok"}' in metrics.text
            assert (await client.get("/api/postings")).json() == []
            page = await client.get("/")
            assert page.status_code == 200 and "<!doctype html>" in page.text
    finally:
        await listeners.stop()


async def test_two_addresses_get_two_servers_each_with_its_own_paths(store: Store) -> None:
    health, board = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    listeners = await start(config(health, board), store)
    try:
        assert len(listeners.servers) == 2
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://{health}/healthz")).status_code == 200
            assert (await client.get(f"http://{health}/api/postings")).status_code == 404
            assert (await client.get(f"http://{board}/api/postings")).status_code == 200
            assert (await client.get(f"http://{board}/metrics")).status_code == 404
    finally:
        await listeners.stop()


async def test_no_listen_key_starts_nothing(store: Store) -> None:
    listeners = await start(config(None, None), store)
    assert listeners.servers == []
    await listeners.stop()


async def test_a_busy_address_is_refused_and_nothing_started_stays_listening(
    store: Store,
) -> None:
    free = f"127.0.0.1:{free_port()}"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ConfigError, match=f"health.listen: cannot listen on {taken}"):
            await start(config(taken, free), store)
        with pytest.raises(ConfigError, match=r"health.listen \(also board.listen\)"):
            await start(config(taken, taken), store)
        # /healthz started first, then the board's address was busy: /healthz is stopped again
        with pytest.raises(BoardListenError, match=f"cannot listen on {taken} for the board"):
            await start(config(free, taken), store)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", int(free.rsplit(":", 1)[1])))
