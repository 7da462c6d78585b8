"""Reading a state database this user cannot write (issue 24, item 3): on a read-only mount, or
in a folder and file without write permission (a backup, a copy, another user's daemon),
`status`, `status --json` and `history --json` read it as it is; commands that write still
exit 74 on one plain line naming the file. Nothing is written next to it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env, ozon_sync_command
from tests.e2e.conftest import MakeDaemon, StartSandbox, assert_plain_last_line, explain

# Root without its capabilities: still uid 0 (so it can reach a checkout in a folder only root
# may enter, as CI's `mktemp -d`), but bound by the permission bits like any other user.
POWERLESS = [
    "setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs",
]  # fmt: skip


@pytest.fixture
def site(start_sandbox: StartSandbox, make_daemon: MakeDaemon) -> Iterator[Path]:
    """A folder anyone may enter holding config.toml (key in the file: the readers need none)
    and a state database filled by `once` and closed cleanly (no -wal, no -shm left)."""
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url)
    daemon.once_ok()
    daemon.run("hold", daemon.status()[0]["posting_number"]).check_returncode()
    with tempfile.TemporaryDirectory(prefix="ozon-sync-ro-") as name:
        folder = Path(name)
        folder.chmod(0o755)
        shutil.copy(daemon.config, folder / "config.toml")
        shutil.copy(daemon.database, folder / "state.db")
        assert not Path(f"{daemon.database}-wal").exists(), "once left its write-ahead log"
        (folder / "config.toml").chmod(0o644)
        yield folder
        folder.chmod(0o755)


def run_as(folder: Path, *args: str, powerless: bool = False) -> subprocess.CompletedProcess[str]:
    """`ozon-sync --config FOLDER/config.toml ARGS`; with `powerless`, as root without the
    capabilities that let it write past permission bits."""
    command = [*ozon_sync_command(), "--config", str(folder / "config.toml"), *args]
    if powerless:
        command = [*POWERLESS, *command]
    return subprocess.run(
        command, env=clean_env(), capture_output=True, text=True, timeout=120, check=False
    )


def assert_reads(folder: Path, powerless: bool = False) -> None:
    """status, status --json and history --json work and show what is in the database."""
    result = run_as(folder, "status", "--json", powerless=powerless)
    assert result.returncode == 0, explain(result)
    items = json.loads(result.stdout)
    assert items and any(item["held"] for item in items)
    plain = run_as(folder, "status", powerless=powerless)
    assert plain.returncode == 0, explain(plain)
    assert items[0]["posting_number"] in plain.stdout
    history = run_as(folder, "history", "--json", powerless=powerless)
    assert history.returncode == 0, explain(history)
    assert json.loads(history.stdout), "the journal is empty"
    hold = run_as(folder, "hold", items[0]["posting_number"], powerless=powerless)
    assert hold.returncode == 74, explain(hold)
    assert_plain_last_line(hold, str(folder / "state.db"))


def test_readers_read_a_database_on_a_read_only_mount(site: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root")
    mounted = tmp_path / "ro"
    mounted.mkdir()
    bind = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(site), str(mounted)], capture_output=True, check=False
    )
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        assert_reads(mounted)
        assert sorted(p.name for p in mounted.iterdir()) == ["config.toml", "state.db"]
    finally:
        subprocess.run(["umount", "-l", str(mounted)], check=False)


def test_readers_read_a_database_in_a_folder_and_file_they_cannot_write(site: Path) -> None:
    (site / "state.db").chmod(0o444)
    site.chmod(0o555)
    before = (site / "state.db").read_bytes()
    if os.geteuid() == 0:  # root writes anywhere: read without its capabilities
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is needed to drop root's capabilities")
        assert_reads(site, powerless=True)
    else:
        assert_reads(site)
    assert sorted(p.name for p in site.iterdir()) == ["config.toml", "state.db"]
    assert (site / "state.db").read_bytes() == before


def test_commits_left_in_a_write_ahead_log_are_never_skipped_over(site: Path) -> None:
    """A writer that died (or a copy taken while it ran) leaves commits in the -wal file that
    the main file lacks: a reader that cannot take the log up must say so (74), never show
    the older state as if it were current."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (and setpriv) to read without write permission")
    with tempfile.TemporaryDirectory(prefix="ozon-sync-wal-") as name:
        live = Path(name) / "state.db"
        shutil.copy(site / "state.db", live)
        conn = sqlite3.connect(live, isolation_level=None)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(  # `hold --all`: every posting shows held
            "INSERT INTO hold_all (id, until, held_at) "
            "VALUES (1, NULL, '2026-01-01T00:00:00.000000Z')"
        )
        assert Path(f"{live}-wal").stat().st_size > 0
        shutil.copy(live, site / "state.db")  # a copy taken while the writer still runs
        shutil.copy(f"{live}-wal", site / "state.db-wal")
        conn.close()
    for part in ("state.db", "state.db-wal"):
        (site / part).chmod(0o444)
    site.chmod(0o555)

    result = run_as(site, "status", "--json", "--all", powerless=True)

    assert "Traceback" not in result.stderr, explain(result)
    if result.returncode == 0:  # read with the log: the emergency stop shows on every posting
        assert all(item["held"] for item in json.loads(result.stdout)), "the log was skipped"
        return
    assert result.returncode == 74, explain(result)
    assert_plain_last_line(result, str(site / "state.db"), "write-ahead log")
