"""Opening the state database: modes, checks, migrations, and one connection per thread.

`StoreBase.open(path, mode=...)` does, in this order: (writer) take the writer lock; run
`PRAGMA integrity_check` (`quick_check` above FULL_CHECK_MAX_BYTES, where a full check would
delay start-up for seconds); refuse a newer or foreign schema; (writer, annotate) switch to WAL
and apply pending migrations inside one `BEGIN IMMEDIATE` transaction. Nothing is written before
the checks pass, so a database that fails them keeps its exact bytes.

Every thread gets its own sqlite3 connection (threading.local), opened on first use with the
same settings, so the async caller may run bulk verbs through `asyncio.to_thread`. Every write
is one `BEGIN IMMEDIATE` transaction (WAL readers never wait for it; other writers wait up to
busy_timeout). sqlite3 errors from the file are translated to StoreError at `_translated`.

Imports only the standard library, sqlite-utils and the store's own modules.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from sqlite_utils import Database

from daemon.store import schema_check as schema
from daemon.store.errors import (
    StoreCorruptError,
    StoreSchemaError,
    StoreUnavailableError,
    translate_sqlite_error,
)
from daemon.store.lock import WriterLock

__all__ = ["DEFAULT_BUSY_TIMEOUT", "FULL_CHECK_MAX_BYTES", "Mode", "StoreBase"]

Mode = Literal["writer", "reader", "annotate"]
_MODES: tuple[Mode, ...] = ("writer", "reader", "annotate")

DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds a statement waits for another connection's write lock before StoreBusyError."""

FULL_CHECK_MAX_BYTES = 256 * 1024 * 1024
"""Up to this file size `integrity_check` runs at open; above it the faster `quick_check`."""


class StoreBase:
    """Connection handling shared by every group of verbs; use `Store.open`, not this."""

    def __init__(
        self, path: Path, mode: Mode, busy_timeout: float, lock: WriterLock | None, memory: bool
    ) -> None:
        self.path = path
        self.mode: Mode = mode
        self._busy_timeout = busy_timeout
        self._lock = lock
        self._memory = memory
        self._immutable = False  # reader of a file nobody here may write (see `open`)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_guard = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        mode: Mode = "writer",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> Self:
        """Open the state database at `path` in `mode`; close it with `close()` or `with`.

        - "writer" (`run`, `once`): takes the writer lock for as long as the store is open,
          creates the file if needed, migrates it.
        - "annotate" (`hold`, `release`): no writer lock, small writes beside a running writer;
          creates and migrates the file if needed.
        - "reader" (`status`, `history`): read-only, works beside a running writer; a missing
          or empty file reads as an empty database (nothing is created).

        `busy_timeout` (seconds) bounds how long a statement waits
        for another connection's lock. Raises StoreLockedError (writer lock held elsewhere),
        StoreCorruptError, StoreUnavailableError, StoreBusyError or StoreSchemaError.
        """
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        db_path = Path(path).absolute()
        lock: WriterLock | None = None
        if mode != "reader":
            _check_writable(db_path)
        if mode == "writer":
            lock = WriterLock.acquire(db_path)
        memory = mode == "reader" and (_is_missing_or_empty(db_path) or _has_no_tables(db_path))
        try:
            return cls._opened(db_path, mode, busy_timeout, lock, memory)
        except StoreUnavailableError as err:
            if mode != "reader" or memory or _may_write(db_path):
                raise
            # Read-only mount, or a folder/file this user may not write: SQLite cannot make
            # the -shm file a WAL reader needs. Reading the file as immutable is right only
            # when no writer's log holds commits the file lacks.
            _refuse_a_pending_log(db_path, err)
            store = cls._opened(db_path, mode, busy_timeout, None, False, immutable=True)
            return store

    @classmethod
    def _opened(
        cls,
        path: Path,
        mode: Mode,
        busy_timeout: float,
        lock: WriterLock | None,
        memory: bool,
        *,
        immutable: bool = False,
    ) -> Self:
        store = cls(path, mode, busy_timeout, lock, memory)
        store._immutable = immutable
        try:
            with store._translated():
                store._prepare(store._conn())
        except BaseException:
            store.close()
            raise
        return store

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check, then (writer/annotate) migrate, the freshly opened main connection."""
        if self._memory:
            return  # _connect already built the empty schema
        self._check_integrity(conn)
        db = Database(conn, execute_plugins=False, recursive_triggers=False)
        schema.check_compatible(db, self.path)
        if self.mode == "reader":
            if schema.pending(db):
                raise StoreSchemaError(
                    f'the state database "{self.path}" was written by an older ozon-sync and '
                    "is not migrated yet; run `ozon-sync once` (or restart the daemon) first",
                    path=self.path,
                )
            schema.check_complete(db, self.path)
            return
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=wal")
        if not schema.pending(db):
            schema.check_complete(db, self.path)
            return  # the usual case: no write at open, so `hold` never waits here
        conn.execute("BEGIN IMMEDIATE")
        try:
            # A second process may have migrated meanwhile; re-check inside the transaction.
            schema.check_compatible(db, self.path)
            schema.apply_migrations(db)
            schema.check_complete(db, self.path)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        pragma = "integrity_check" if size <= FULL_CHECK_MAX_BYTES else "quick_check"
        rows = conn.execute(f"PRAGMA {pragma}").fetchall()
        if rows != [("ok",)]:
            first = str(rows[0][0]) if rows else "no result"
            raise StoreCorruptError(
                f'the state database "{self.path}" failed its {pragma} ({first}); ozon-sync '
                "left it untouched: move it aside or restore a backup",
                path=self.path,
            )

    def _connect(self) -> sqlite3.Connection:
        """A new connection with the store's settings (autocommit; we issue BEGIN ourselves)."""
        if self._memory:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            db = Database(conn, execute_plugins=False, recursive_triggers=False)
            conn.execute("BEGIN IMMEDIATE")
            schema.apply_migrations(db)
            conn.execute("COMMIT")
        elif self.mode == "reader":
            uri = "file:" + urllib.parse.quote(str(self.path)) + "?mode=ro"
            uri += "&immutable=1" if self._immutable else ""
            conn = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout,
            )
        else:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout,
            )
        conn.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL never corrupts; a power cut may lose the last commits only.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise RuntimeError(f'the state store "{self.path}" is closed')
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._translated():
                conn = self._connect()
            with self._connections_guard:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn sqlite3 errors caused by the file into StoreError subclasses."""
        try:
            yield
        except sqlite3.Error as err:
            mapped = translate_sqlite_error(err, self.path)
            if mapped is None:
                raise
            raise mapped from err

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writing verbs of this thread into one transaction: all or nothing.

        Used where two records must never exist one without the other (an alert's ledger keys
        and its outbox row). Nested use joins the outer transaction.
        """
        with self._write():
            yield

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction on this thread's connection; rolled back on error.

        Inside `transaction()` it joins the open transaction instead of starting one."""
        if self.mode == "reader":
            raise RuntimeError("this store was opened read-only (mode='reader')")
        conn = self._conn()
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        self._local.depth = 1
        try:
            with self._write_outer(conn):
                yield conn
        finally:
            self._local.depth = 0

    @contextlib.contextmanager
    def _write_outer(self, conn: sqlite3.Connection) -> Iterator[None]:
        with self._translated():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one consistent snapshot."""
        conn = self._conn()
        if getattr(self._local, "depth", 0):  # inside transaction(): read what it sees
            yield conn
            return
        with self._translated():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection and release the writer lock (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self._connections_guard:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_writable(path: Path) -> None:
    """Refuse a database that could be opened but not written (SQLite would only fail later)."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreUnavailableError(
            f'the folder of the state database "{path}" does not exist or is not a folder; '
            "create it (systemd: StateDirectory=) or set daemon.database",
            path=path,
        )
    if path.is_dir():
        raise StoreUnavailableError(
            f'the state database "{path}" is a folder, not a file; set daemon.database to a '
            "file path",
            path=path,
        )
    # The folder must take the -wal, -shm and .lock files; os.access also sees read-only mounts.
    if not os.access(folder, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK)
    ):
        raise StoreUnavailableError(
            f'the state database "{path}" or its folder is not writable by this user; fix the '
            "permissions (systemd: StateDirectory=) or set daemon.database",
            path=path,
        )


def _may_write(path: Path) -> bool:
    """True when this user may write the database and its folder (the -wal and -shm files)."""
    try:
        return os.access(path.parent, os.W_OK | os.X_OK) and os.access(path, os.W_OK)
    except OSError:
        return False


def _refuse_a_pending_log(path: Path, err: StoreUnavailableError) -> None:
    """Raise StoreUnavailableError when a write-ahead log beside `path` may hold commits the
    file lacks (a writer still running, or one that died): reading the file alone would show
    an older state as the current one."""
    wal = path.with_name(path.name + "-wal")
    try:
        pending = wal.stat().st_size > 0
    except FileNotFoundError:
        return
    except OSError:
        pending = True
    if pending:
        raise StoreUnavailableError(
            f'the state database "{path}" cannot be read by this user: its write-ahead log '
            f'"{wal.name}" holds changes that only a user who may write the folder can take '
            "up; run the command as the daemon's user, or once more after the daemon stopped",
            path=path,
        ) from err


def _has_no_tables(path: Path) -> bool:
    """True for a database file a writer has just created and not yet migrated (its first
    transaction is still open): a reader then sees an empty database, as if it were missing."""
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
        try:
            row = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # not readable as a database: the normal open reports why
    return bool(row is not None and row[0] == 0)


def _is_missing_or_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError as err:
        raise StoreUnavailableError(
            f'the state database "{path}" cannot be read ({err.strerror})', path=path
        ) from err
