"""Shared pieces of the end-to-end tests: a sandbox in its own process, a config file pointing
at it, and the installed `ozon-sync` command run against that config as users run it.

- `start_sandbox(*args)`: `python -m daemon.sandbox` with a distinctive `API_KEY` and no
  scheduled events (so the sandbox's view stays put while a test compares it with ours).
- `make_daemon(base_url, accounts=..., retry_for=..., ...)`: writes config.toml (JSON logs,
  database beside it) and returns a `Daemon` that runs commands against it and records every
  output, so tests can grep them all for secrets.
- `sandbox_watched(sb)`: the sandbox's own view of the watched postings, read straight from its
  API with urllib (not through the daemon's client).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, last_stderr_line, ozon_sync_command, run_cli

API_KEY = "e2e-Sekr1t-7f3c9a1d-5b2e-4c68-KEY"
"""The sandbox accepts this key: it must never show up in any output or in the database."""
WRONG_KEY = "e2e-Wr0ng-9a8b7c6d-5e4f-0000-KEY"
"""A key the sandbox rejects (403); just as secret."""
SECRETS = (API_KEY, WRONG_KEY)
WATCHED = frozenset({"awaiting_packaging", "awaiting_deliver"})
EVENTS = frozenset(
    {
        "reminder", "overdue", "would_cancel", "cancelled", "cancel_failed", "deadline_changed",
        "cancelled_elsewhere", "api_error", "recovered", "key_expiring", "digest",
        "tariff_step", "needs_data",
    }
)  # fmt: skip
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MAIN_WAREHOUSE = 1020001234567000  # warehouses of the sandbox's scenarios
KAZAN_WAREHOUSE = 1020001987654000
EXPRESS_WAREHOUSE = 1020002555000000  # ~10 % of the bulk scenario: one page for a few hundred
RFBS_WAREHOUSE = 1020003777000000


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A readable account of a finished command, for assertion messages."""
    args = " ".join(str(a) for a in result.args[-3:]) if isinstance(result.args, list) else ""
    return (
        f"`... {args}` exited {result.returncode}\n--- stdout (tail) ---\n{result.stdout[-2500:]}"
        f"\n--- stderr (tail) ---\n{result.stderr[-4000:]}"
    )


def assert_plain_last_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The last stderr line is one plain-text line (not JSON), no traceback, naming `needles`."""
    last = last_stderr_line(result)
    assert last, explain(result)
    assert not last.lstrip().startswith("{"), f"last stderr line is JSON: {last}"
    assert "Traceback" not in result.stderr, explain(result)
    for needle in needles:
        assert needle in last, f"{needle!r} not in the last stderr line: {last}"
    return last


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class AccountSpec:
    """One `[[accounts]]` table; the key goes through an environment variable (`inline`:
    written into the config file as `api_key`)."""

    name: str
    client_id: str
    key: str
    warehouse_ids: tuple[int, ...] = ()
    inline: bool = False


@dataclass
class Running:
    """An `ozon-sync` process started in the background; output goes to files."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    runs: list[subprocess.CompletedProcess[str]]

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.process.poll()

    def kill(self) -> subprocess.CompletedProcess[str]:
        """SIGKILL the process (no clean-up can run), reap it and return what it wrote."""
        self.process.send_signal(signal.SIGKILL)
        return self.wait(timeout=30)

    def wait(self, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Wait for the exit and return it like `subprocess.run` would."""
        code = self.process.wait(timeout=timeout)
        result = subprocess.CompletedProcess(
            self.process.args,
            code,
            self.stdout_path.read_text(errors="replace"),
            self.stderr_path.read_text(errors="replace"),
        )
        self.runs.append(result)
        return result


@dataclass
class Daemon:
    """A config file and its environment; runs `ozon-sync --config FILE ...` and keeps every
    output in `runs`."""

    config: Path
    env: dict[str, str]
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    started: list[Running] = field(default_factory=list)

    @property
    def database(self) -> Path:
        """The state database the config names."""
        return self.config.parent / "state.db"

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run one command to completion."""
        result = run_cli("--config", str(self.config), *args, env=self.env, timeout=timeout)
        self.runs.append(result)
        return result

    def start(self, *args: str) -> Running:
        """Start one command in the background."""
        index = len(self.started)
        out = self.config.parent / f"bg{index}.stdout"
        err = self.config.parent / f"bg{index}.stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [*ozon_sync_command(), "--config", str(self.config), *args],
                stdout=stdout,
                stderr=stderr,
                env=self.env,
            )
        running = Running(process, out, err, self.runs)
        self.started.append(running)
        return running

    def once(self) -> subprocess.CompletedProcess[str]:
        """`ozon-sync once`."""
        return self.run("once")

    def once_ok(self) -> subprocess.CompletedProcess[str]:
        """`ozon-sync once`, asserting exit 0."""
        result = self.once()
        assert result.returncode == 0, explain(result)
        return result

    def status(self, *extra: str) -> list[dict[str, Any]]:
        """`status --json` parsed; asserts exit 0 and that stdout is nothing but the array."""
        return self._json("status", *extra)

    def history(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """`history --json --limit N` parsed, asserting exit 0 and a pure JSON stdout."""
        return self._json("history", "--limit", str(limit))

    def _json(self, command: str, *extra: str) -> list[dict[str, Any]]:
        result = self.run(command, "--json", *extra)
        assert result.returncode == 0, explain(result)
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError as err:
            raise AssertionError(f"stdout is not only JSON ({err})\n{explain(result)}") from err
        assert isinstance(data, list), explain(result)
        return data

    def watched_numbers(self, account: str | None = None) -> set[str]:
        """Posting numbers `status --json` shows (optionally of one account)."""
        return {
            item["posting_number"]
            for item in self.status()
            if account is None or item["account"] == account
        }


def config_text(
    base_url: str,
    accounts: Sequence[AccountSpec],
    *,
    retry_for: str = "5s",
    timeout: str = "5s",
    rps: float = 20,
    log_level: str = "info",
    extra: str = "",
) -> str:
    """The TOML of a config for these accounts (keys in $OZON_E2E_KEY_<index>)."""
    tables = "".join(
        f"""
[[accounts]]
name = "{account.name}"
client_id = "{account.client_id}"
{f'api_key = "{account.key}"' if account.inline else f'api_key_env = "OZON_E2E_KEY_{index}"'}
warehouse_ids = [{", ".join(str(w) for w in account.warehouse_ids)}]
"""
        for index, account in enumerate(accounts)
    )
    return f"""
[daemon]
database = "state.db"
log_format = "json"
log_level = "{log_level}"

[ozon]
base_url = "{base_url}"
timeout = "{timeout}"
retry_for = "{retry_for}"
max_requests_per_second = {rps}
{tables}
{extra}
"""


MakeDaemon = Callable[..., Daemon]
StartSandbox = Callable[..., SandboxProcess]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[MakeDaemon]:
    """A factory: `make_daemon(base_url, accounts=[AccountSpec(...)], retry_for="5s", ...)`.

    Without `accounts`, one account "shop-1" with the sandbox's Client-Id and `API_KEY`.
    Background processes still running after the test are killed. After every test, no key
    may appear in any output of its commands nor in its database files.
    """
    made: list[Daemon] = []

    def make(
        base_url: str,
        *,
        accounts: Sequence[AccountSpec] | None = None,
        folder: str = "site",
        **options: Any,
    ) -> Daemon:
        accounts = accounts or [AccountSpec("shop-1", "100500", API_KEY)]
        where = tmp_path / folder
        where.mkdir(exist_ok=True)
        config = where / "config.toml"
        config.write_text(config_text(base_url, accounts, **options), encoding="utf-8")
        env = clean_env(**{f"OZON_E2E_KEY_{i}": a.key for i, a in enumerate(accounts)})
        daemon = Daemon(config, env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        for running in daemon.started:
            if running.poll() is None:
                running.kill()
    for daemon in made:
        assert_no_secret(daemon)


@pytest.fixture
def start_sandbox(
    sandbox_process: Callable[..., SandboxProcess],
) -> Iterator[StartSandbox]:
    """A factory: `start_sandbox("--scenario", "demo")` -> a sandbox process accepting
    `API_KEY`, with no scheduled events. Stopped (and resumed first if a test paused it)."""
    started: list[SandboxProcess] = []

    def start(*args: str) -> SandboxProcess:
        sb = sandbox_process("--api-key", API_KEY, "--no-events", *args)
        started.append(sb)
        return sb

    yield start
    for sb in started:
        resume(sb)


def pause(sb: SandboxProcess) -> None:
    """SIGSTOP the sandbox: requests to it hang (the kernel still accepts connections)."""
    os.kill(sb.pid, signal.SIGSTOP)


def resume(sb: SandboxProcess) -> None:
    """SIGCONT a paused sandbox (harmless when it runs or has stopped)."""
    with contextlib.suppress(ProcessLookupError, RuntimeError):
        os.kill(sb.pid, signal.SIGCONT)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll `predicate` every 20 ms until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def api_calls(sb: SandboxProcess, path_part: str = "/posting/") -> list[dict[str, Any]]:
    """The sandbox's recorded API calls whose path contains `path_part`."""
    return [call for call in sb.calls() if path_part in call["path"]]


def _post(sb: SandboxProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
        sb.base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Client-Id": sb.client_id,
            "Api-Key": sb.api_key,
            "Content-Type": "application/json",
        },
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                data: dict[str, Any] = json.loads(answer.read())
                return data
        except urllib.error.HTTPError as err:
            if err.code not in (429, 500, 503):
                raise
            time.sleep(0.3)
    raise AssertionError(f"the sandbox kept refusing {path}")


def sandbox_watched(
    sb: SandboxProcess, warehouse_ids: Sequence[int] = ()
) -> dict[str, dict[str, Any]]:
    """The sandbox's own unfulfilled postings in watched statuses, by posting number, paged
    straight from its API (no status filter sent: the statuses are filtered here)."""
    now = datetime.now(UTC)
    query: dict[str, Any] = {
        "cutoff_from": (now - timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cutoff_to": (now + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if warehouse_ids:
        query["warehouse_ids"] = [str(w) for w in warehouse_ids]
    postings: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        body = {"cursor": cursor, "limit": 100, "sort_dir": "ASC", "filter": query}
        page = _post(sb, "/v4/posting/fbs/unfulfilled/list", body)
        page = page.get("result", page)
        for posting in page["postings"]:
            if posting["status"] in WATCHED:
                postings[posting["posting_number"]] = posting
        if not page["has_next"]:
            return postings
        cursor = page["cursor"]


def repeated_alerts(history: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(event, posting) pairs that more than one alert message of `history --json` names.

    Only elements of kind "alert" count: a dry-run cancellation plan is journalled as its own
    "action" element beside the `would_cancel` message that lists the same posting.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for entry in history:
        if entry["kind"] != "alert":
            continue
        for number in entry["posting_numbers"]:
            counts[(entry["event"], number)] += 1
    return sorted(pair for pair, count in counts.items() if count > 1)


def assert_no_secret(daemon: Daemon, secrets: Sequence[str] = SECRETS) -> None:
    """No secret in any output of `daemon`'s commands nor in its database files' bytes."""
    for result in daemon.runs:
        for secret in secrets:
            assert secret not in result.stdout, f"{secret} on stdout of {result.args}"
            assert secret not in result.stderr, f"{secret} on stderr of {result.args}"
    for path in daemon.config.parent.glob("state.db*"):
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} in the bytes of {path.name}"
