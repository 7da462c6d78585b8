"""`ozon-sync run` whose database stops taking writes (issue 16, item 6): a real disk-full.

The state database lives on a small tmpfs mounted for the test (root and mount privileges are
needed; the test skips without them). After a first cycle that succeeds, the test fills the
file system to the last byte, so SQLite's next write fails with SQLITE_FULL "database or disk is
full". The daemon must then send one `database_unwritable` message straight to the routes,
stop feeding the systemd watchdog, exit 74 after 3 failed cycles, and lose nothing that was
committed before.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import wait_for
from tests.e2e.test_run_e2e import Daemon, NotifySocket, env_for, write_config
from tests.receiver import Receiver

DISK_SIZE = "16m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on its own 16 MiB tmpfs, unmounted after the test."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file into `folder` until the file system refuses another byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 512, 1):  # big blocks, then the last few bytes
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def committed_rows(database: Path) -> tuple[int, int]:
    """(postings, alerts) rows of the database, read by a separate connection."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
        postings = conn.execute("SELECT count(*) FROM postings").fetchone()[0]
        alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    return int(postings), int(alerts)


def log_events(text: str) -> list[dict[str, object]]:
    events = []
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            data = json.loads(line)
            if isinstance(data, dict):
                events.append(data)
    return events


def test_a_full_disk_alerts_once_stops_the_watchdog_and_exits_74_after_three_cycles(
    small_disk: Path,
    sandbox_process: Callable[..., SandboxProcess],
    tmp_path: Path,
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    with Receiver() as receiver:
        route = f'[[notify]]\nurl = "{receiver.url("/phone")}"\n'
        site = tmp_path / "site"  # the config and the daemon's log stay off the small disk
        site.mkdir()
        config = write_config(site, api, extra=route, interval="10s")
        database = small_disk / "state.db"
        config.write_text(
            config.read_text().replace('"state.db"', json.dumps(str(database))), encoding="utf-8"
        )
        sock = NotifySocket(tmp_path / "notify.sock")
        env = env_for(api, NOTIFY_SOCKET=str(sock.path), WATCHDOG_USEC="1000000")
        daemon = Daemon(config, env)
        try:
            assert sock.wait_for("STATUS=shop-1: ok", timeout=60), daemon.text()
            wait_for(lambda: len(receiver.messages) > 0, "the first cycle's alerts", 30)
            assert sock.wait_for("WATCHDOG=1", timeout=10), sock.messages
            with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next write needs room
            before = committed_rows(database)
            assert before[0] > 0
            filler = fill(small_disk)

            wait_for(lambda: "database_unwritable" in daemon.text(), "the first failure", 40)
            time.sleep(1.5)  # a ping already on its way may still arrive
            pings_withheld = sock.messages.count("WATCHDOG=1")
            code = daemon.proc.wait(timeout=90)
        finally:
            daemon.kill()
            sock.close()
        text = daemon.text()
        assert code == 74, text[-4000:]
        assert "Traceback" not in text, text[-4000:]
        last = text.strip().splitlines()[-1]
        assert last.startswith("ozon-sync: "), last
        assert "state.db" in last and "full" in last, last

        # one error line per failed cycle, three cycles, then the exit
        failures = [
            event
            for event in log_events(text)
            if event.get("event") == "database_unwritable" and event.get("level") == "error"
        ]
        per_cycle = [event["failed_cycles"] for event in failures if event.get("job") == "cycle"]
        assert per_cycle == [1, 2, 3], failures
        assert len(failures) <= 4, failures  # at most one more, if delivery hit it first
        # the watchdog went silent at the first failure
        assert sock.messages.count("WATCHDOG=1") == pings_withheld, sock.messages[-10:]

        # exactly one direct message, in English, naming the database and no secret
        time.sleep(0.5)
        direct = [m for m in receiver.messages if "database" in m.title.lower()]
        assert len(direct) == 1, [m.title for m in receiver.messages]
        assert "full" in direct[0].message, direct[0].message
        assert api.api_key not in direct[0].message + direct[0].title

    filler.unlink()
    after = committed_rows(small_disk / "state.db")
    assert after[0] >= before[0] and after[1] >= before[1], (before, after)  # nothing lost
    with contextlib.closing(sqlite3.connect(small_disk / "state.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_space_freed_after_a_failed_cycle_resumes_writes_and_the_watchdog(
    small_disk: Path,
    sandbox_process: Callable[..., SandboxProcess],
    tmp_path: Path,
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    with Receiver() as receiver:
        site = tmp_path / "site"
        site.mkdir()
        route = f'[[notify]]\nurl = "{receiver.url("/phone")}"\n'
        config = write_config(site, api, extra=route, interval="10s")
        database = small_disk / "state.db"
        config.write_text(
            config.read_text().replace('"state.db"', json.dumps(str(database))), encoding="utf-8"
        )
        sock = NotifySocket(tmp_path / "notify.sock")
        env = env_for(api, NOTIFY_SOCKET=str(sock.path), WATCHDOG_USEC="1000000")
        daemon = Daemon(config, env)
        try:
            assert sock.wait_for("STATUS=shop-1: ok", timeout=60), daemon.text()
            with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            filler = fill(small_disk)
            wait_for(lambda: "database_unwritable" in daemon.text(), "the first failure", 40)
            time.sleep(1.5)
            withheld = sock.messages.count("WATCHDOG=1")
            filler.unlink()
            wait_for(lambda: "database_writable_again" in daemon.text(), "the recovery", 40)
            wait_for(lambda: sock.messages.count("WATCHDOG=1") > withheld, "pings again", 10)
            assert daemon.proc.poll() is None, daemon.text()[-3000:]
            assert daemon.stop() == 0, daemon.text()[-3000:]
        finally:
            daemon.kill()
            sock.close()
        text = daemon.text()
        assert "Traceback" not in text, text[-4000:]
        assert '"watchdog_resumed"' in text, text[-3000:]
        direct = [m for m in receiver.messages if "database" in m.title.lower()]
        assert len(direct) == 1, [m.title for m in receiver.messages]
