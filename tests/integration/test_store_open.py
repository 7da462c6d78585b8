"""Opening the state database: migrations, modes, the writer lock, and refusing bad files.

Every test uses a real SQLite file in tmp_path.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from daemon.models import Posting
from daemon.store import (
    Store,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreSchemaError,
    StoreUnavailableError,
)
from daemon.store import schema_check as schema

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def posting(number: str = "1000-0001-1", hours_left: float = 4) -> Posting:
    return Posting(
        posting_number=number,
        status="awaiting_packaging",
        shipment_date=NOW + timedelta(hours=hours_left),
        warehouse_name="Main",
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def applied_migrations(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return schema.applied(Database(conn, execute_plugins=False))
    finally:
        conn.close()


# -- migrations ----------------------------------------------------------------------------------


def test_opening_a_missing_file_creates_it_with_every_migration_applied(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.upsert_postings("shop-1", [posting()], NOW)
    assert applied_migrations(db_path) == list(schema.MIGRATION_NAMES)
    assert {"postings", "alert_ledger", "actions", "alerts", "deliveries"} <= table_names(db_path)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("stop_before", schema.MIGRATION_NAMES)
def test_opening_a_database_of_an_older_schema_applies_the_missing_migrations(
    db_path: Path, stop_before: str
) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    db = Database(conn, execute_plugins=False)
    conn.execute("BEGIN IMMEDIATE")
    schema.apply_migrations(db, stop_before=stop_before)
    conn.execute("COMMIT")
    conn.close()
    assert stop_before not in applied_migrations(db_path)

    with Store.open(db_path) as store:
        store.upsert_postings("shop-1", [posting()], NOW)
        assert [c.posting_number for c in store.postings(NOW)] == ["1000-0001-1"]
    assert applied_migrations(db_path) == list(schema.MIGRATION_NAMES)


def test_a_reader_refuses_a_database_that_is_not_migrated_yet(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    db = Database(conn, execute_plugins=False)
    schema.apply_migrations(db, stop_before=schema.MIGRATION_NAMES[-1])
    conn.close()
    with pytest.raises(StoreSchemaError, match="older ozon-sync"):
        Store.open(db_path, mode="reader")


def test_a_database_of_a_newer_schema_is_refused_and_left_byte_identical(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.upsert_postings("shop-1", [posting()], NOW)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('ozon-sync', '9999_from_the_future', '2030-01-01')"
        )
    conn.close()
    before = db_path.read_bytes()

    for mode in ("writer", "annotate", "reader"):
        with pytest.raises(StoreSchemaError) as caught:
            Store.open(db_path, mode=mode)  # type: ignore[arg-type]
        assert str(db_path) in str(caught.value)
        assert "newer ozon-sync" in str(caught.value)
        assert "\n" not in str(caught.value)
    assert db_path.read_bytes() == before


def test_an_sqlite_file_of_another_program_is_refused_untouched(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreSchemaError, match="another program"):
        Store.open(db_path)
    assert db_path.read_bytes() == before
    assert table_names(db_path) == {"customers"}


# -- damaged and unusable files ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["writer", "annotate", "reader"])
def test_a_garbage_file_raises_store_corrupt_error_and_keeps_its_exact_bytes(
    db_path: Path, mode: str
) -> None:
    garbage = bytes(range(256)) * 64
    db_path.write_bytes(garbage)
    with pytest.raises(StoreCorruptError) as caught:
        Store.open(db_path, mode=mode)  # type: ignore[arg-type]
    assert str(db_path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert db_path.read_bytes() == garbage


def test_a_database_with_damaged_pages_raises_store_corrupt_error_untouched(
    db_path: Path,
) -> None:
    with Store.open(db_path) as store:
        store.upsert_postings("shop-1", [posting(f"{n}-1", n) for n in range(2000)], NOW)
    damaged = bytearray(db_path.read_bytes())
    assert len(damaged) > 8 * 4096
    damaged[3 * 4096 : 5 * 4096] = b"\x5a" * (2 * 4096)
    db_path.write_bytes(bytes(damaged))

    with pytest.raises(StoreCorruptError, match="state database"):
        Store.open(db_path)
    assert db_path.read_bytes() == bytes(damaged)


def test_a_missing_folder_raises_store_unavailable_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "state.db"
    with pytest.raises(StoreUnavailableError, match="does not exist") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)
    assert not path.parent.exists()


def test_a_folder_where_the_file_should_be_raises_store_unavailable_error(db_path: Path) -> None:
    db_path.mkdir()
    with pytest.raises(StoreUnavailableError, match="is a folder"):
        Store.open(db_path, mode="annotate")


def test_a_path_below_a_regular_file_raises_store_unavailable_error(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(StoreUnavailableError):
        Store.open(tmp_path / "plain-file" / "state.db")


_UNPRIVILEGED_OPEN = textwrap.dedent(
    """
    import os, sys
    from daemon.store import Store, StoreError
    if os.geteuid() == 0:  # root ignores permissions: drop to nobody once imports are done
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    try:
        Store.open(sys.argv[1], mode=sys.argv[2]).close()
        print("opened")
    except StoreError as err:
        print(type(err).__name__, err)
    """
)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged child process can enter (tmp_path's parents are private)."""
    with tempfile.TemporaryDirectory(prefix="ozon-sync-store-") as name:
        folder = Path(name)
        folder.chmod(0o755)
        yield folder


def open_unprivileged(path: Path, mode: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _UNPRIVILEGED_OPEN, str(path), mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_an_unwritable_folder_raises_store_unavailable_error(shared_dir: Path) -> None:
    output = open_unprivileged(shared_dir / "state.db", "writer")
    assert output.startswith("StoreUnavailableError")
    assert str(shared_dir / "state.db") in output
    assert list(shared_dir.iterdir()) == []


def test_an_unwritable_database_file_raises_store_unavailable_error_untouched(
    shared_dir: Path,
) -> None:
    path = shared_dir / "state.db"
    with Store.open(path) as store:
        store.upsert_postings("shop-1", [posting()], NOW)
    path.chmod(0o444)
    shared_dir.chmod(0o777)
    before = path.read_bytes()
    for mode in ("writer", "annotate"):
        assert open_unprivileged(path, mode).startswith("StoreUnavailableError")
    assert open_unprivileged(path, "reader") == "opened"
    assert path.read_bytes() == before


def test_a_write_blocked_longer_than_busy_timeout_raises_store_busy_error(db_path: Path) -> None:
    Store.open(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with (
            Store.open(db_path, mode="annotate", busy_timeout=0.05) as store,
            pytest.raises(StoreBusyError, match="locked"),
        ):
            store.hold("1000-0001-1", None, NOW)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with Store.open(db_path, mode="annotate") as store:
        store.hold("1000-0001-1", None, NOW)


# -- modes and the writer lock -------------------------------------------------------------------


def test_a_reader_of_a_missing_file_sees_an_empty_database_and_creates_nothing(
    db_path: Path,
) -> None:
    with Store.open(db_path, mode="reader") as store:
        assert store.postings(NOW, include_departed=True) == []
        assert store.history() == []
        assert store.sync_states() == []
    assert list(db_path.parent.iterdir()) == []


def test_a_reader_cannot_write(db_path: Path) -> None:
    Store.open(db_path).close()
    with Store.open(db_path, mode="reader") as store, pytest.raises(RuntimeError):
        store.hold("1000-0001-1", None, NOW)


def test_a_second_writer_in_the_same_process_raises_store_locked_error_naming_our_pid(
    db_path: Path,
) -> None:
    with Store.open(db_path):
        with pytest.raises(StoreLockedError) as caught:
            Store.open(db_path)
        assert caught.value.pid == os.getpid()
        assert f"process {os.getpid()}" in str(caught.value)
        assert isinstance(caught.value, StoreError)
    Store.open(db_path).close()  # released on close


_HOLD_WRITER = textwrap.dedent(
    """
    import sys
    from daemon.store import Store
    with Store.open(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


def test_a_writer_in_another_process_blocks_a_second_writer_until_it_exits(
    db_path: Path,
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITER, str(db_path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "locked"
            with pytest.raises(StoreLockedError) as caught:
                Store.open(db_path)
            assert caught.value.pid == child.pid
            assert str(child.pid) in str(caught.value)
            child.stdin.close()
            assert child.wait(timeout=60) == 0
        finally:
            if child.poll() is None:
                child.kill()
    Store.open(db_path).close()


def test_a_second_writer_from_a_separate_process_is_refused_while_we_hold_the_lock(
    db_path: Path,
) -> None:
    with Store.open(db_path):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _UNPRIVILEGED_OPEN.replace("os.geteuid() == 0", "False"),
                str(db_path),
                "writer",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert result.stdout.startswith("StoreLockedError")
    assert f"process {os.getpid()}" in result.stdout


def test_a_reader_works_beside_a_writer_and_sees_its_commits(db_path: Path) -> None:
    with Store.open(db_path) as writer:
        writer.upsert_postings("shop-1", [posting("1-1")], NOW)
        with Store.open(db_path, mode="reader") as reader:
            assert [c.posting_number for c in reader.postings(NOW)] == ["1-1"]
            writer.upsert_postings("shop-1", [posting("1-2", 8)], NOW)
            assert [c.posting_number for c in reader.postings(NOW)] == ["1-1", "1-2"]


def test_hold_and_release_work_beside_a_running_writer(db_path: Path) -> None:
    with Store.open(db_path) as writer:
        writer.upsert_postings("shop-1", [posting("1-1")], NOW)
        with Store.open(db_path, mode="annotate") as annotator:
            annotator.hold("1-1", None, NOW)
        assert writer.postings(NOW)[0].held
        with Store.open(db_path, mode="annotate") as annotator:
            assert annotator.release("1-1")
        assert not writer.postings(NOW)[0].held


def test_a_reader_reads_a_database_in_a_folder_it_cannot_write(shared_dir: Path) -> None:
    path = shared_dir / "state.db"
    with Store.open(path) as store:
        store.upsert_postings("shop-1", [posting()], NOW)
    path.chmod(0o444)
    shared_dir.chmod(0o555)
    try:
        assert open_unprivileged(path, "reader") == "opened"
        assert open_unprivileged(path, "annotate").startswith("StoreUnavailableError")
        assert sorted(p.name for p in shared_dir.iterdir()) == ["state.db", "state.db.lock"]
    finally:
        shared_dir.chmod(0o755)
