"""The state database seen from outside (issue 5): a `once` killed mid-cycle and started again,
`status` beside a running `once`, a second writer, a corrupt file, an empty one, and no secret
in any output or in the database's bytes."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from daemon.cycle import BATCH_POSTINGS as BATCH
from tests.e2e.conftest import (
    API_KEY,
    KAZAN_WAREHOUSE,
    MAIN_WAREHOUSE,
    WRONG_KEY,
    AccountSpec,
    Daemon,
    MakeDaemon,
    StartSandbox,
    api_calls,
    assert_no_secret,
    assert_plain_last_line,
    explain,
    pause,
    repeated_alerts,
    resume,
    sandbox_watched,
    wait_for,
)

ONE_STEP = """
[policy]
remind_before = ["2h"]
overdue_repeat = "0s"
"""
"""One reminder step and one overdue alert per posting: (event, posting) is then unique for
ever, whatever the clock does between runs."""


def integrity(database: Path) -> str:
    """`PRAGMA integrity_check` of the file, as SQLite answers it."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
    return "; ".join(str(row[0]) for row in rows)


# ---------------------------------------------------------------- crash and restart


def test_once_killed_mid_cycle_then_run_again_loses_and_duplicates_nothing(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "bulk", "--postings", "2000", "--latency", "0.08")
    daemon = make_daemon(sb.base_url, retry_for="30s", rps=50, extra=ONE_STEP)
    for requests in (3, 8):  # killed early, then again a little further on
        target = len(api_calls(sb)) + requests
        running = daemon.start("once")
        wait_for(lambda n=target: len(api_calls(sb)) >= n, f"{requests} requests")
        killed = running.kill()
        assert killed.returncode == -signal.SIGKILL, f"the cycle had ended: {explain(killed)}"
    sb.set_knobs(latency=0)

    daemon.once_ok()
    daemon.once_ok()  # and once more: what the first complete cycle alerted stays alerted

    expected = sandbox_watched(sb)
    items = daemon.status()
    numbers = [item["posting_number"] for item in items]
    assert len(numbers) == len(set(numbers)), "a posting is listed twice"
    missing = set(expected) - set(numbers)
    assert not missing, f"{len(missing)} watched postings lost: {sorted(missing)[:10]}"
    assert set(numbers) == set(expected)
    history = daemon.history()
    repeated = repeated_alerts(history)
    assert not repeated, f"alerts repeated after the crash: {repeated[:10]}"
    assert {"overdue", "reminder"} <= {e["event"] for e in history}
    assert integrity(daemon.database) == "ok"


# ---------------------------------------------------------------- beside a running writer


def test_status_and_history_work_while_once_is_writing(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "bulk", "--postings", "8000", "--latency", "0.05")
    daemon = make_daemon(sb.base_url, retry_for="60s", timeout="30s")
    running = daemon.start("once")
    # the cycle caches postings a batch at a time (BATCH_POSTINGS: thirty pages), while it asks
    # for the next pages
    wait_for(lambda: len(api_calls(sb)) >= BATCH // 100 + 2, "the first batch of postings")
    pause(sb)  # `once` now waits for an answer in the middle of its listing
    try:
        assert running.poll() is None, "the cycle ended before the test could look"
        seen: list[list[dict[str, Any]]] = []

        def committed() -> bool:
            seen.append(daemon.status())
            return len(seen[-1]) >= BATCH

        wait_for(committed, "the first batch of postings in status")
        items = seen[-1]
        daemon.history()
        plain = daemon.run("status")
        assert plain.returncode == 0, explain(plain)
        assert running.poll() is None, "status ran while once was still writing"
    finally:
        resume(sb)
    result = running.wait()
    assert result.returncode == 0, explain(result)
    assert len(daemon.status()) > len(items)


def test_a_second_once_on_the_same_database_exits_73(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "bulk", "--postings", "1000", "--latency", "0.1")
    daemon = make_daemon(sb.base_url, retry_for="60s", timeout="30s")
    first = daemon.start("once")
    wait_for(lambda: len(api_calls(sb)) >= 2, "the first pages")
    pause(sb)
    try:
        assert first.poll() is None, "the first cycle ended before the test could look"
        second = daemon.once()
    finally:
        resume(sb)

    assert second.returncode == 73, explain(second)
    assert_plain_last_line(second, str(daemon.database))
    result = first.wait()
    assert result.returncode == 0, explain(result)


# ---------------------------------------------------------------- a damaged or missing file


def _not_a_database(daemon: Daemon) -> None:
    daemon.database.write_bytes(b"these are not the bytes of an SQLite database\n" * 400)


def _damaged_pages(daemon: Daemon) -> None:
    daemon.once_ok()
    wal = Path(f"{daemon.database}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "a clean exit checkpoints the WAL"
    data = bytearray(daemon.database.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) > 3 * page
    for index in range(page, len(data)):  # every page but the first (the schema's root)
        data[index] = (index * 37) & 0xFF
    daemon.database.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_not_a_database, _damaged_pages], ids=["garbage", "pages"])
def test_a_corrupt_database_exits_74_and_keeps_its_bytes(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, damage: object
) -> None:
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url)
    assert callable(damage)
    damage(daemon)
    original = daemon.database.read_bytes()
    calls_before = len(api_calls(sb))

    once = daemon.once()
    status = daemon.run("status", "--json")
    history = daemon.run("history", "--json")

    assert once.returncode == 74, explain(once)
    assert_plain_last_line(once, str(daemon.database))
    assert daemon.database.read_bytes() == original, "the corrupt file was written to"
    # status and history read the same file: they report it the same way (and write nothing)
    for result in (status, history):
        assert result.returncode == 74, explain(result)
        assert result.stdout == ""
        assert_plain_last_line(result, str(daemon.database))
    assert daemon.database.read_bytes() == original
    assert len(api_calls(sb)) == calls_before, (
        "nothing was asked of Ozon with a database it cannot use"
    )


@pytest.mark.parametrize("empty_file", [False, True], ids=["missing", "empty file"])
def test_status_and_history_json_on_a_database_never_written_print_an_empty_array(
    make_daemon: MakeDaemon, empty_file: bool
) -> None:
    daemon = make_daemon("http://127.0.0.1:9")
    if empty_file:
        daemon.database.touch()

    for command in ("status", "history"):
        result = daemon.run(command, "--json")
        assert result.returncode == 0, explain(result)
        assert result.stdout.strip() == "[]", explain(result)
    assert daemon.database.exists() == empty_file, "a reader created the database"


# ---------------------------------------------------------------- secrets


def test_no_api_key_appears_in_any_output_or_in_the_database(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    accounts = [
        AccountSpec("shop-good", sb.client_id, API_KEY, warehouse_ids=(MAIN_WAREHOUSE,)),
        AccountSpec("shop-bad", sb.client_id, WRONG_KEY, warehouse_ids=(KAZAN_WAREHOUSE,)),
    ]
    daemon = make_daemon(sb.base_url, accounts=accounts, log_level="debug")
    sb.set_knobs(fail_next=1)

    assert daemon.once().returncode == 77
    for args in (["status", "--all"], ["history", "--json"]):
        result = daemon.run(*args)
        assert result.returncode == 0, explain(result)
    assert daemon.run("check").returncode == 77

    assert daemon.database.exists()
    assert any("shop-bad" in r.stderr for r in daemon.runs)
    assert_no_secret(daemon)
