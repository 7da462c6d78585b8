"""SIGHUP reload of the `run` service (issue 16 item 4): the new configuration is built
completely before anything is swapped; whatever fails, the running configuration stays, the
failure is logged as `config_reload_failed` with its reason, and systemd hears READY=1 after
RELOADING=1 (real datagrams on a socket the test owns)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.config import load_config, resolve_secrets
from daemon.sdnotify import SdNotifier
from daemon.service import Service
from daemon.store import Store

ACCOUNT = """
[[accounts]]
name = "{name}"
client_id = "{client_id}"
api_key = "key-{name}"
"""


def write_config(path: Path, *names: str) -> Path:
    accounts = "".join(
        ACCOUNT.format(name=name, client_id=100 + index) for index, name in enumerate(names)
    )
    path.write_text(
        '[daemon]\ndatabase = "state.db"\npoll_interval = "10m"\n'
        # nothing listens there, and no cycle runs in these tests anyway
        '[ozon]\nbase_url = "http://127.0.0.1:9"\n' + accounts,
        encoding="utf-8",
    )
    return path


class NotifySocket:
    """systemd's end of $NOTIFY_SOCKET: a unix datagram socket the test reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    def messages(self) -> list[str]:
        """Every datagram received so far, first line of each (READY=1, RELOADING=1...)."""
        out: list[str] = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode().splitlines()[0])
            except BlockingIOError:
                return out


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.sock.close()


@pytest.fixture
async def service(tmp_path: Path, notify: NotifySocket) -> Any:
    path = write_config(tmp_path / "config.toml", "shop-1")
    config = load_config(path)
    running = Service(
        path,
        config,
        resolve_secrets(config, {}),
        notifier=SdNotifier({"NOTIFY_SOCKET": str(notify.path)}),
    )
    running.store = Store.open(config.database_path(), mode="writer")
    running._build()
    yield running
    if running.engine is not None:
        await running.engine.aclose()
    running.store.close()
    running.notifier.close()


async def test_a_reload_whose_build_fails_keeps_the_running_config_and_says_ready(
    service: Service, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, secrets, engine, outbox = (
        service.config,
        service.secrets,
        service.engine,
        service.outbox,
    )
    write_config(service.config_path, "shop-1", "shop-2")

    def broken_engine(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the wiring broke")

    monkeypatch.setattr("daemon.service.Engine", broken_engine)
    with capture_logs() as logs:
        await service._reload()

    assert notify.messages() == ["RELOADING=1", "READY=1"]
    failed = [entry for entry in logs if entry["event"] == "config_reload_failed"]
    assert len(failed) == 1, logs
    assert "the wiring broke" in failed[0]["reason"]
    assert not any(entry["event"] == "config_reloaded" for entry in logs)
    # nothing was swapped: the running configuration and its wiring are the old ones
    assert service.config is config
    assert service.secrets is secrets
    assert service.engine is engine
    assert service.outbox is outbox


async def test_a_reload_with_an_unusable_key_keeps_the_running_config_and_says_ready(
    service: Service, notify: NotifySocket
) -> None:
    config, engine = service.config, service.engine
    text = service.config_path.read_text(encoding="utf-8")
    service.config_path.write_text(text.replace('"key-shop-1"', '"kеy-shop-1"'), encoding="utf-8")

    with capture_logs() as logs:
        await service._reload()

    assert notify.messages() == ["RELOADING=1", "READY=1"]
    failed = [entry for entry in logs if entry["event"] == "config_reload_failed"]
    assert "accounts[0].api_key" in failed[0]["reason"], logs
    assert service.config is config and service.engine is engine


async def test_a_good_reload_swaps_everything_then_says_ready(
    service: Service, notify: NotifySocket
) -> None:
    old_engine = service.engine
    write_config(service.config_path, "shop-1", "shop-2")

    with capture_logs() as logs:
        await service._reload()

    assert notify.messages() == ["RELOADING=1", "READY=1"]
    assert [account.name for account in service.config.accounts] == ["shop-1", "shop-2"]
    assert service.engine is not old_engine
    assert service.engine is not None
    assert [job.name for job in service.engine.jobs] == ["shop-1", "shop-2"]
    assert service.secrets.api_keys["shop-2"].reveal() == "key-shop-2"
    assert any(entry["event"] == "config_reloaded" for entry in logs)
