"""`ozon-sync run` as a real process with configurations it cannot (fully) use: a SIGHUP
reload that fails (issue 16 item 4) and a `[health] listen` address it cannot bind (item 5).
systemd's $NOTIFY_SOCKET is a unix datagram socket the test owns; nothing but 127.0.0.1 is
ever sent to (192.0.2.1 is only tried as a local address to bind, which the kernel refuses)."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, last_stderr_line, ozon_sync_command
from tests.e2e.conftest import wait_for
from tests.e2e.test_run_e2e import Daemon, NotifySocket, free_port

SECRET_KEY_FILE_TEXT = "kеy-with-a-Cyrillic-е"  # what a copy from a chat window can look like


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def start_daemon() -> Iterator[Callable[[Path, dict[str, str]], Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, env: dict[str, str]) -> Daemon:
        daemon = Daemon(config, env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def write_config(
    folder: Path, api: SandboxProcess, key_file: Path, extra: str = "", interval: str = "10m"
) -> Path:
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
api_key_file = "{key_file}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def first_lines(sock: NotifySocket) -> list[str]:
    """The first line of every notification so far (READY=1, RELOADING=1, STATUS=...)."""
    return [message.splitlines()[0] for message in list(sock.messages)]


def test_a_failed_reload_says_ready_logs_why_and_keeps_the_running_config(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    notify_socket: NotifySocket,
    start_daemon: Callable[[Path, dict[str, str]], Daemon],
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    key_file = tmp_path / "key"
    key_file.write_text(api.api_key + "\n", encoding="utf-8")
    config = write_config(tmp_path, api, key_file, interval="10s")
    daemon = start_daemon(config, clean_env(NOTIFY_SOCKET=str(notify_socket.path)))
    assert notify_socket.wait_for("STATUS=shop-1: ok"), daemon.text()

    # a key no HTTP header can carry, and another interval: neither may take effect
    key_file.write_text(SECRET_KEY_FILE_TEXT + "\n", encoding="utf-8")
    config.write_text(config.read_text().replace('"10s"', '"11s"'), encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reload_failed" in daemon.text(), "config_reload_failed", 20)

    lines = first_lines(notify_socket)
    assert "RELOADING=1" in lines, lines
    wait_for(
        lambda: "READY=1" in first_lines(notify_socket)[lines.index("RELOADING=1") + 1 :],
        "READY=1 after RELOADING=1",
        10,
    )
    failed = next(line for line in daemon.text().splitlines() if "config_reload_failed" in line)
    assert "accounts[0].api_key_file" in failed, failed
    assert "Traceback" not in daemon.text()
    assert SECRET_KEY_FILE_TEXT not in daemon.text()

    # still running on the old configuration: its next cycles still sync with the old key
    def ok_cycles_after_the_failure() -> int:
        text = daemon.text()
        after = text[text.index("config_reload_failed") :]
        return sum(
            '"result": "ok"' in line for line in after.splitlines() if "cycle_finished" in line
        )

    wait_for(lambda: ok_cycles_after_the_failure() >= 1, "a cycle on the old config", 40)
    assert daemon.proc.poll() is None

    key_file.write_text(api.api_key + "\n", encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reloaded" in daemon.text(), "config_reloaded", 20)
    wait_for(lambda: first_lines(notify_socket).count("READY=1") == 3, "the third READY=1", 10)
    assert first_lines(notify_socket).count("RELOADING=1") == 2
    assert daemon.stop() == 0


def run_once_with_listen(
    tmp_path: Path, api: SandboxProcess, listen: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    key_file = tmp_path / "key"
    key_file.write_text(api.api_key, encoding="utf-8")
    config = write_config(tmp_path, api, key_file, f'[health]\nlisten = "{listen}"\n')
    return subprocess.run(
        [*ozon_sync_command(), "--config", str(config), "run"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_health_listen_on_a_busy_port_exits_78_with_one_line(
    tmp_path: Path, sandbox_process: Callable[..., SandboxProcess]
) -> None:
    api = sandbox_process("--scenario", "empty", "--no-events")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_once_with_listen(tmp_path, api, f"127.0.0.1:{port}")
    assert result.returncode == 78, result.stderr[-3000:]
    last = last_stderr_line(result)
    assert last.startswith("ozon-sync: ") and "health.listen" in last, last
    assert f"127.0.0.1:{port}" in last, last
    assert "bug" not in last and "Traceback" not in result.stderr, result.stderr[-3000:]


def test_health_listen_on_an_address_not_on_this_machine_warns_and_exits_78(
    tmp_path: Path, sandbox_process: Callable[..., SandboxProcess]
) -> None:
    api = sandbox_process("--scenario", "empty", "--no-events")
    result = run_once_with_listen(tmp_path, api, f"192.0.2.1:{free_port()}")
    assert result.returncode == 78, result.stderr[-3000:]
    last = last_stderr_line(result)
    assert "health.listen" in last and "192.0.2.1" in last, last
    assert "bug" not in last and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "health_listen_not_loopback" in result.stderr, result.stderr[-3000:]


def test_check_warns_when_health_listens_beyond_loopback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[daemon]\ndatabase = "state.db"\nlog_format = "json"\n'
        '[[accounts]]\nname = "a"\nclient_id = "1"\napi_key_env = "K"\n'
        '[health]\nlisten = "0.0.0.0:9464"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [*ozon_sync_command(), "--config", str(config), "check", "--offline"],
        env=clean_env(K="key-1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "health_listen_not_loopback" in result.stderr
    loopback = config.read_text().replace("0.0.0.0", "127.0.0.1")
    config.write_text(loopback, encoding="utf-8")
    result = subprocess.run(
        [*ozon_sync_command(), "--config", str(config), "check", "--offline"],
        env=clean_env(K="key-1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "health_listen_not_loopback" not in result.stderr
