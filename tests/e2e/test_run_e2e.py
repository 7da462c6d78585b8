"""`ozon-sync run` as a real process against the sandbox in its own process: systemd
notifications, precise wake-ups, graceful SIGTERM, SIGHUP reload, /healthz, /metrics and the
heartbeat."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, ozon_sync_command
from tests.e2e.conftest import wait_for
from tests.receiver import Receiver

KEY_VAR = "OZON_RUN_KEY"


class NotifySocket:
    """A unix datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode())

    def wait_for(self, prefix: str, timeout: float = 30) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                for line in message.splitlines():
                    if line.startswith(prefix):
                        return line
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self._stop = True
        self.sock.close()


class Daemon:
    """`ozon-sync --config F run` in the background, stderr captured to a file."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.log = config.parent / "run.log"
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(
            [*ozon_sync_command(), "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, env: dict[str, str]) -> Daemon:
        daemon = Daemon(config, env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, api: SandboxProcess, extra: str = "", interval: str = "10m") -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[daemon]
database = "state.db"
poll_interval = "{interval}"
log_format = "json"

[ozon]
base_url = "{api.base_url}"
retry_for = "3s"
timeout = "5s"

[[accounts]]
name = "shop-1"
client_id = "{api.client_id}"
api_key_env = "{KEY_VAR}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def env_for(api: SandboxProcess, **extra: str) -> dict[str, str]:
    return clean_env(**{KEY_VAR: api.api_key}, **extra)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_ready_status_and_a_graceful_stop(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    notify_socket: NotifySocket,
    start_daemon: Callable[..., Daemon],
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    config = write_config(tmp_path, api)
    daemon = start_daemon(config, env_for(api, NOTIFY_SOCKET=str(notify_socket.path)))
    assert notify_socket.wait_for("READY=1"), daemon.text()
    status = notify_socket.wait_for("STATUS=shop-1: ok")
    assert status is not None, notify_socket.messages
    assert "watched" in status and "overdue" in status
    started = time.monotonic()
    assert daemon.stop() == 0, daemon.text()
    assert time.monotonic() - started < 30
    assert notify_socket.wait_for("STOPPING=1", timeout=5)


def test_a_reminder_goes_out_within_seconds_of_its_threshold_not_at_the_next_poll(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    receiver: Receiver,
    start_daemon: Callable[..., Daemon],
) -> None:
    api = sandbox_process("--scenario", "empty", "--no-events", "--rate-limit", "0")
    now = datetime.now(UTC).replace(microsecond=0)
    deadline = now + timedelta(hours=1, seconds=20)  # the 1h step is crossed in 20 s
    api.action(
        "add_posting",
        shipment_date=deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
        posting_number="55500001-0001-1",
    )
    config = write_config(
        tmp_path,
        api,
        # only reminders: a digest due at this hour of the day must not count as the second one
        f'[[notify]]\nurl = "{receiver.url("/phone")}"\nevents = ["reminder"]\n',
        interval="10m",
    )
    daemon = start_daemon(config, env_for(api))
    first = receiver.wait_for(1, timeout=30)  # the 4h reminder of the first sync
    assert first and "55500001-0001-1" in first[0].message, daemon.text()
    second = receiver.wait_for(2, timeout=60)
    assert len(second) == 2, daemon.text()
    threshold = (deadline - timedelta(hours=1)).timestamp()
    latency = receiver.arrivals[1] - threshold
    assert 0 <= latency <= 3, f"reminder arrived {latency:.2f} s after its threshold"
    calls = api.calls()
    listings = [c for c in calls if c["path"] == "/v4/posting/fbs/unfulfilled/list"]
    gets = [c for c in calls if c["path"] == "/v3/posting/fbs/get"]
    assert len(listings) == 1  # the wake-up re-read one posting, not the account
    assert len(gets) >= 1
    assert daemon.stop() == 0


def test_sigterm_in_the_middle_of_a_cycle_exits_0_with_the_database_intact(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    start_daemon: Callable[..., Daemon],
) -> None:
    api = sandbox_process(
        "--scenario", "bulk", "--postings", "2000", "--no-events", "--rate-limit", "0",
        "--latency", "0.2",
    )  # fmt: skip
    config = write_config(tmp_path, api)
    daemon = start_daemon(config, env_for(api))
    wait_for(lambda: len(api.calls()) >= 3, "the first requests of the cycle", timeout=30)
    started = time.monotonic()
    assert daemon.stop() == 0, daemon.text()
    assert time.monotonic() - started < 30
    text = daemon.text()
    # the cycle in flight was let finish (not cancelled by the scheduler's shutdown)
    assert '"event": "cycle_finished"' in text and "CancelledError" not in text, text
    finished = next(json.loads(line) for line in text.splitlines() if "cycle_finished" in line)
    assert finished["result"] == "ok" and finished["listing_complete"], finished
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        cached = db.execute("SELECT count(*) FROM postings").fetchone()[0]
    assert cached == finished["listed"] > 1000  # the whole listing was kept


def test_sighup_with_a_broken_config_keeps_the_daemon_running(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    notify_socket: NotifySocket,
    start_daemon: Callable[..., Daemon],
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    config = write_config(tmp_path, api)
    daemon = start_daemon(config, env_for(api, NOTIFY_SOCKET=str(notify_socket.path)))
    assert notify_socket.wait_for("READY=1"), daemon.text()
    good = config.read_text()
    config.write_text(good.replace('poll_interval = "10m"', 'poll_interval = "often"'))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reload_failed" in daemon.text(), "config_reload_failed", 20)
    assert "daemon.poll_interval" in daemon.text()
    time.sleep(1)
    assert daemon.proc.poll() is None  # still running on the old config
    config.write_text(good.replace('poll_interval = "10m"', 'poll_interval = "9m"'))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reloaded" in daemon.text(), "config_reloaded", 20)
    assert daemon.stop() == 0


def test_healthz_turns_503_when_ozon_is_gone_for_three_intervals_and_metrics_and_heartbeat(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    receiver: Receiver,
    start_daemon: Callable[..., Daemon],
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    port = free_port()
    beat = f"http://127.0.0.1:{receiver.port}/ping/abc123"
    config = write_config(
        tmp_path,
        api,
        f'[health]\nlisten = "127.0.0.1:{port}"\nheartbeat_url = "{beat}"\n',
        interval="10s",
    )
    daemon = start_daemon(config, env_for(api))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: bool(receiver.gets), "the first heartbeat", 30)
    assert receiver.gets[0][1] == "/ping/abc123", daemon.text()
    assert get(f"{base}/healthz")[0] == 200
    code, metrics = get(f"{base}/metrics")
    assert code == 200
    assert 'ozon_sync_cycles_total{account="shop-1",result="ok"}' in metrics
    assert (
        'ozon_sync_api_requests_total{method="POST",path="/v4/posting/fbs/unfulfilled/list"'
        in metrics
    )
    assert 'ozon_sync_watched_postings{account="shop-1"}' in metrics
    api.stop()  # Ozon is gone
    deadline = time.monotonic() + 90
    code, text = get(f"{base}/healthz")
    while time.monotonic() < deadline and code == 200:
        time.sleep(0.5)
        code, text = get(f"{base}/healthz")
    assert code == 503, daemon.text()
    assert "shop-1" in text
    assert any(path.endswith("/fail") for _, path in receiver.gets)
    assert daemon.proc.poll() is None  # an outage never ends the daemon
    assert daemon.stop() == 0
    assert os.path.exists(tmp_path / "state.db")
