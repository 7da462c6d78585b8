"""The writer lock: at most one process writes a state database.

`run` and `once` hold an exclusive `flock` on the sidecar file `<database>.lock` for as long as
the store is open (in practice the process lifetime). The lock is advisory and dies with the
process, so a crash never leaves a stale lock behind; the pid written into the file only serves
the error message of a second writer. Readers and small annotating writes (`hold`, `release`)
never take it: SQLite's own locking (WAL, busy_timeout) keeps them consistent.

Imports only the standard library and the store's errors.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from daemon.store.errors import StoreLockedError, StoreUnavailableError

__all__ = ["WriterLock", "lock_path_for"]


def lock_path_for(database: Path) -> Path:
    """The sidecar lock file of `database`: the same path with `.lock` appended."""
    return database.with_name(database.name + ".lock")


class WriterLock:
    """An exclusive, non-blocking `flock` on `<database>.lock`, held until `release()`."""

    def __init__(self, database: Path, fd: int) -> None:
        self.database = database
        self.path = lock_path_for(database)
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path) -> WriterLock:
        """Take the writer lock of `database` and record our pid in the lock file.

        Raises StoreLockedError (naming the holder's pid when known) if another process holds
        it, StoreUnavailableError if the lock file cannot be created.
        """
        path = lock_path_for(database)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise StoreUnavailableError(
                f'the lock file "{path}" of the state database cannot be created '
                f"({err.strerror}); check that the folder exists and is writable by this user",
                path=database,
            ) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            pid = _read_pid(fd)
            os.close(fd)
            holder = f"process {pid}" if pid is not None else "another process"
            raise StoreLockedError(
                f"another ozon-sync ({holder}) is already writing to the state database "
                f'"{database}" (lock "{path}"); stop it first or use a different database',
                path=database,
                pid=pid,
            ) from err
        except OSError as err:
            os.close(fd)
            raise StoreUnavailableError(
                f'the lock file "{path}" cannot be locked ({err.strerror})', path=database
            ) from err
        # The pid only serves error messages; failing to write it must not fail the lock.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(database, fd)

    @property
    def held(self) -> bool:
        """True until `release()` has been called."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent). The lock file itself stays, so its inode is stable."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    """The pid recorded in an open lock file, or None when it is empty or unreadable."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
