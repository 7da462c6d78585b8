"""The journal of `ozon-sync run` (its JSON lines on stderr) tells what changed, not what repeats:
an outage is one warning when it starts and one info line when it ends, a request that succeeds
on a retry is a debug line, the key check failing through an outage is one warning, a wake-up
skipped while the account's cycle runs is a named debug line (never APScheduler's free text),
and a cycle still hanging at SIGTERM ends without a traceback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, ozon_sync_command
from tests.e2e.conftest import api_calls, wait_for

KEY_VAR = "OZON_LOGS_KEY"
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class Daemon:
    """`ozon-sync --config F run` in the background; its stderr (JSON lines) in a file."""

    def __init__(self, config: Path, api: SandboxProcess) -> None:
        self.path = config.parent / "run.log"
        self._file = self.path.open("w")
        self.proc = subprocess.Popen(
            [*ozon_sync_command(), "--config", str(config), "run"],
            env=clean_env(**{KEY_VAR: api.api_key}),
            stdout=subprocess.DEVNULL,
            stderr=self._file,
        )

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def lines(self) -> list[dict[str, Any]]:
        """Every complete log line so far, parsed; a line that is not JSON fails the test."""
        text = self.text()
        complete = text[: text.rfind("\n") + 1]
        parsed = []
        for line in complete.splitlines():
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pytest.fail(f"a log line is not JSON: {line!r}\n{text[-3000:]}")
        return parsed

    def events(self, event: str, **fields: object) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line["event"] == event and all(line.get(k) == v for k, v in fields.items())
        ]

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._file.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._file.close()


@pytest.fixture
def start_daemon() -> Iterator[Callable[[Path, SandboxProcess], Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, api: SandboxProcess) -> Daemon:
        daemon = Daemon(config, api)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def write_config(folder: Path, api: SandboxProcess, *, retry_for: str, timeout: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[daemon]
database = "state.db"
poll_interval = "10s"
log_format = "json"
log_level = "debug"

[ozon]
base_url = "{api.base_url}"
retry_for = "{retry_for}"
timeout = "{timeout}"

[[accounts]]
name = "shop-1"
client_id = "{api.client_id}"
api_key_env = "{KEY_VAR}"
""",
        encoding="utf-8",
    )
    return path


def assert_named_events_only(lines: list[dict[str, Any]]) -> None:
    """Every line's event is a snake_case name: no library's free text in `event`."""
    for line in lines:
        assert SNAKE_CASE.match(str(line["event"])), line


def test_an_outage_is_one_warning_when_it_starts_and_one_info_line_when_it_ends(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    start_daemon: Callable[[Path, SandboxProcess], Daemon],
) -> None:
    # Ozon answers 500 to everything from the start: the cycles and the key check both fail.
    api = sandbox_process(
        "--scenario", "demo", "--no-events", "--rate-limit", "0", "--error-rate", "1.0"
    )  # fmt: skip
    daemon = start_daemon(write_config(tmp_path, api, retry_for="2s", timeout="5s"), api)
    wait_for(
        lambda: (
            len(daemon.events("cycle_finished", result="failed")) >= 2
            and len(daemon.events("key_info_unavailable")) >= 2
        ),
        "two failed cycles, each followed by a failed key check",
        timeout=90,
    )
    api.set_knobs(error_rate=0.0)
    wait_for(lambda: daemon.events("cycle_finished", result="ok"), "a cycle after the outage", 60)
    wait_for(lambda: daemon.events("key_info_available"), "the key check after the outage", 30)
    recovered_at = len(daemon.lines())
    # One failed attempt, then an answer on the retry: no outage, nothing above debug.
    api.set_knobs(fail_next=1)
    wait_for(
        lambda: len(daemon.events("cycle_finished", result="ok")) >= 2,
        "a cycle after one failed attempt",
        60,
    )
    assert daemon.stop() == 0, daemon.text()[-3000:]

    lines = daemon.lines()
    assert_named_events_only(lines)
    events = [line["event"] for line in lines]
    assert events.count("ozon_unavailable") == 1, daemon.text()[-5000:]
    assert events.count("ozon_recovered") == 1
    assert events.index("ozon_unavailable") < events.index("ozon_recovered")
    down = next(line for line in lines if line["event"] == "ozon_unavailable")
    up = next(line for line in lines if line["event"] == "ozon_recovered")
    assert (down["level"], down["status"]) == ("warning", 500)
    assert up["level"] == "info" and up["duration"] > 0
    # the key check failed after every failed cycle: one warning, then debug lines
    unavailable = [line for line in lines if line["event"] == "key_info_unavailable"]
    assert [line["level"] for line in unavailable] == ["warning"] + ["debug"] * (
        len(unavailable) - 1
    )
    assert [line["level"] for line in lines if line["event"] == "key_info_available"] == ["info"]
    retries = [line for line in lines if line["event"] == "ozon_retry"]
    assert retries and {line["level"] for line in retries} == {"debug"}
    assert any(line["event"] == "ozon_retry" for line in lines[recovered_at:]), "fail_next=1"
    loud = [line for line in lines[recovered_at:] if line["level"] not in ("debug", "info")]
    assert loud == [], "a request answered on its retry is no outage"
    warnings = {line["event"] for line in lines if line["level"] == "warning"}
    assert warnings == {"ozon_unavailable", "key_info_unavailable"}, warnings


def test_a_wake_up_skipped_while_the_accounts_cycle_runs_is_a_named_debug_line(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    start_daemon: Callable[[Path, SandboxProcess], Daemon],
) -> None:
    api = sandbox_process("--scenario", "empty", "--no-events", "--rate-limit", "0")
    # 1h reminder thresholds every half second from 9 to 17 s after the start: the second
    # regular cycle (10 s after the first) runs over some of them, slowed down below.
    start = datetime.now(UTC)
    for index in range(17):
        threshold = start + timedelta(seconds=9 + index / 2)
        api.action(
            "add_posting",
            posting_number=f"4444{index:04d}-0001-1",
            shipment_date=(threshold + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        )
    daemon = start_daemon(write_config(tmp_path, api, retry_for="5s", timeout="10s"), api)
    wait_for(lambda: daemon.events("cycle_finished", result="ok"), "the first cycle", 30)
    api.set_knobs(latency=1.0)  # the wake-ups wait for the cycle holding the account's lock
    wait_for(lambda: daemon.events("job_skipped"), "a wake-up skipped during a cycle", 60)
    api.set_knobs(latency=0.0)
    assert daemon.stop() == 0, daemon.text()[-3000:]

    lines = daemon.lines()
    assert_named_events_only(lines)
    skipped = [line for line in lines if line["event"] == "job_skipped"]
    assert skipped
    for line in skipped:
        assert line["level"] == "debug", line
        assert (line["job"], line["account"]) == ("wake:shop-1", "shop-1"), line
    assert "Execution of job" not in daemon.text()
    assert [line for line in lines if line["level"] in ("warning", "error", "critical")] == []


def test_a_cycle_still_hanging_at_sigterm_ends_without_a_traceback(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    start_daemon: Callable[[Path, SandboxProcess], Daemon],
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    daemon = start_daemon(write_config(tmp_path, api, retry_for="5s", timeout="120s"), api)
    wait_for(lambda: daemon.events("cycle_finished", result="ok"), "the first cycle", 30)
    # the first cycle's job reads the ratings, then the key's expiry: both answered before the
    # hang, or that job (not the next cycle's) would be the one still running at SIGTERM
    wait_for(lambda: api_calls(api, "/v1/roles"), "the first key check", 30)
    api.set_knobs(latency=100.0)  # the next cycle's first request hangs
    wait_for(lambda: len(daemon.events("cycle_started")) >= 2, "the next cycle", 30)
    time.sleep(0.5)  # its request is sent
    stopped = time.monotonic()
    assert daemon.stop(timeout=90) == 0, daemon.text()[-3000:]
    assert time.monotonic() - stopped < 60  # the stop grace (25 s), then a clean end

    text = daemon.text()
    assert "Traceback" not in text and "CancelledError" not in text, text[-5000:]
    lines = daemon.lines()
    assert_named_events_only(lines)
    # the hanging cycle's job (and the first cycle's, if its key check was hanging too)
    cancelled = [line for line in lines if line["event"] == "job_cancelled"]
    assert cancelled, text[-3000:]
    for line in cancelled:
        assert line["level"] == "info" and line["account"] == "shop-1", line
    assert [line["event"] for line in lines if line["level"] == "error"] == []
    assert lines[-1]["event"] == "daemon_stopped"
