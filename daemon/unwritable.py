"""A state database that refuses writes in `run` (disk full, read-only): the streak and what
the daemon does about it.

    the first refused write of a streak   one `database_unwritable` message straight to the
                                          routes (the outbox cannot be written), STATUS=
    each refused cycle                    one error line; the watchdog stops being fed
    UNWRITABLE_CYCLES refused cycles      a clean stop, and `run` ends with exit 74
    a cycle recorded again                one `database_writable_again` line; the streak ends

Imports the alerts' event names, notify (the outbox and the message), sdnotify and the store's
error type.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from daemon.alerts import Event
from daemon.notify.outbox import Outbox
from daemon.notify.render import render_database_unwritable
from daemon.sdnotify import SdNotifier
from daemon.store import StoreUnwritableError

__all__ = ["UNWRITABLE_CYCLES", "WriteStreak"]

log = structlog.get_logger(__name__)

UNWRITABLE_CYCLES = 3  # failed cycles in a row on a database refusing writes, then exit 74


class WriteStreak:
    """Refused writes in a row. `outbox()` and `language()` give the running config's (they
    change on reload); `stop()` ends the process once UNWRITABLE_CYCLES cycles failed."""

    def __init__(
        self,
        notifier: SdNotifier,
        *,
        outbox: Callable[[], Outbox | None],
        language: Callable[[], str],
        stop: Callable[[], None],
    ) -> None:
        self.notifier = notifier
        self._outbox = outbox
        self._language = language
        self._stop = stop
        self.error: StoreUnwritableError | None = None  # the streak's latest error
        self.failed_cycles = 0  # cycles in a row that the database refused to record

    @property
    def exhausted(self) -> bool:
        """True once the streak ended the process: `run` raises `error` (exit 74)."""
        return self.failed_cycles >= UNWRITABLE_CYCLES and self.error is not None

    async def refused(self, err: StoreUnwritableError, *, cycle: bool) -> None:
        """A job's write was refused. The first time in a streak: alert every route directly
        and stop the watchdog pings; each failed cycle: one error line; the last: stop."""
        first = self.error is None
        self.error = err
        self.failed_cycles += 1 if cycle else 0
        if cycle or first:
            log.error(
                "database_unwritable",
                reason=str(err),
                failed_cycles=self.failed_cycles,
                exit_after=UNWRITABLE_CYCLES,
                job="cycle" if cycle else "other",
            )
        else:
            log.debug("database_unwritable", reason=str(err))
        self.notifier.status(f"database not writable: {err}")
        outbox = self._outbox()
        if first and outbox is not None:
            message = render_database_unwritable(str(err), UNWRITABLE_CYCLES, self._language())
            await outbox.send_now(Event.DATABASE_UNWRITABLE, message)
        if self.failed_cycles >= UNWRITABLE_CYCLES:
            log.error("database_unwritable_exit", failed_cycles=self.failed_cycles, exit_code=74)
            self._stop()

    def works(self) -> None:
        """A cycle was recorded: a streak of refused writes, if any, is over."""
        if self.error is not None:
            log.info("database_writable_again", failed_cycles=self.failed_cycles)
            self.error, self.failed_cycles = None, 0
