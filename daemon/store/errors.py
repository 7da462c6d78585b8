"""The errors of the state store, and the one place where sqlite3 errors are translated.

    StoreError                      the state database cannot be used (CLI: exit 74)
    ├── StoreCorruptError           integrity check failed, or "file is not a database"
    ├── StoreUnavailableError       cannot be opened or written: missing folder, permissions,
    │   │                           read-only file system, disk full, I/O error
    │   └── StoreUnwritableError    a write was refused: disk full, read-only file or file
    │                               system, I/O error (`run` alerts `database_unwritable`)
    ├── StoreBusyError              another connection kept it locked longer than busy_timeout
    ├── StoreSchemaError            written by a newer ozon-sync, not an ozon-sync database, or
    │                               (read-only open) not migrated yet
    └── StoreLockedError            another process holds the writer lock (CLI: exit 73;
                                    catch it before StoreError)

Every message is one line, names the database file and says what to do. The store never deletes,
truncates or rewrites a database it could not open.

Imports only the standard library.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = [
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "StoreUnwritableError",
    "translate_sqlite_error",
]


class StoreError(Exception):
    """The state database at `path` cannot be used; the message is one line naming the file."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class StoreCorruptError(StoreError):
    """The database file failed its integrity check or is not an SQLite database at all."""


class StoreUnavailableError(StoreError):
    """The database cannot be opened or written (folder, permissions, disk full, I/O error)."""


class StoreUnwritableError(StoreUnavailableError):
    """A write was refused by SQLite or the file system (disk full, read-only, I/O error)."""


class StoreBusyError(StoreError):
    """Another connection held the database locked for longer than the busy timeout."""


class StoreSchemaError(StoreError):
    """The database schema is newer than this program, foreign, or not migrated yet."""


class StoreLockedError(StoreError):
    """Another process holds the writer lock; `pid` is its process id when it recorded one."""

    def __init__(self, message: str, *, path: Path, pid: int | None) -> None:
        super().__init__(message, path=path)
        self.pid = pid


def translate_sqlite_error(err: sqlite3.Error, path: Path) -> StoreError | None:
    """Map an sqlite3 error on the database at `path` to a StoreError, or None for a bug.

    Errors that come from the file or its surroundings (corruption, locks, permissions, I/O) are
    translated; errors that mean our own SQL is wrong (syntax, constraint) return None so the
    caller re-raises the original exception.
    """
    name = getattr(err, "sqlite_errorname", "") or ""
    detail = str(err).splitlines()[0] if str(err) else name
    where = f'the state database "{path}"'
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreCorruptError(
            f"{where} is damaged ({detail}); ozon-sync left it untouched: move it aside or "
            "restore a backup",
            path=path,
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreBusyError(
            f"{where} stayed locked by another connection for too long ({detail}); "
            "try again in a moment",
            path=path,
        )
    if name.startswith(("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR")):
        return StoreUnwritableError(
            f"{where} cannot be written ({detail}); free disk space and check that the file "
            "and its file system are writable and healthy",
            path=path,
        )
    if name == "SQLITE_ERROR" and detail.startswith(("no such table", "no such column")):
        # Checked at open (schema.check_complete); a part dropped while the store is open.
        return StoreCorruptError(
            f"{where} is damaged ({detail}); ozon-sync left it untouched: restore a backup, "
            "or move it aside to start an empty one",
            path=path,
        )
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM")):
        return StoreUnavailableError(
            f"{where} cannot be opened or written ({detail}); check that its folder exists, "
            "is writable by this user and has free space",
            path=path,
        )
    return None
