"""systemd service notifications (sd_notify) and the event-loop watchdog, with the standard library.

- `SdNotifier` sends `READY=1`, `STATUS=...`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1` as
  datagrams to `$NOTIFY_SOCKET` (a path, or an abstract name written `@name`). Without
  `$NOTIFY_SOCKET` (not under systemd, or `Type=` is not `notify`) every call is a no-op. A send
  never raises: the first failure is logged as a warning, later ones at debug level until a
  send works again.
- `Watchdog` pings `WATCHDOG=1` every half `$WATCHDOG_USEC` from the asyncio loop itself, so a
  wedged loop stops the pings and systemd restarts the daemon; it also stops pinging while the
  service's `healthy()` says False (a cycle ran past its bound, the database refuses
  writes), whatever `poll_interval` is; `reason()` says why in its `watchdog_withheld` line.
- `CycleGuard` is the usual `healthy()`: it knows which cycles are running and since when. A
  cycle that ends, well or badly, is finished: an Ozon outage makes cycles fail, never run
  forever, so it never stops the pings.

The service's order of calls: `ready()` once config, database and scheduler are up, then
`Watchdog(...).start()`; `status(text)` after each cycle; on SIGHUP `reloading()`, reload, then
`ready()` again; on SIGTERM `stopping()` and `Watchdog.stop()`.

This module imports only structlog and the standard library; it must not import the rest of the
daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import structlog

__all__ = ["CycleGuard", "SdNotifier", "Watchdog"]

log = structlog.get_logger(__name__)

MIN_PING_PERIOD = 0.05  # seconds: a tiny WATCHDOG_USEC must not turn into a busy loop


class SdNotifier:
    """Talks to systemd's notification socket; every method is a no-op without one.

    `env` defaults to `os.environ`, `pid` to `os.getpid()` (used to check `$WATCHDOG_PID`).
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        env = os.environ if env is None else env
        self._socket_name = env.get("NOTIFY_SOCKET", "")
        self._address = _address(self._socket_name)
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._pid = os.getpid() if pid is None else pid
        self._socket: socket.socket | None = None
        self._failing = False
        if self._socket_name and self._address is None:
            log.warning(
                "sd_notify_unsupported",
                notify_socket=self._socket_name,
                reason="NOTIFY_SOCKET is neither a path nor an @abstract name; not notifying",
            )

    @property
    def enabled(self) -> bool:
        """True when there is a notification socket to send to."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """Send READY=1 (and STATUS= when given): start-up or a reload is complete."""
        return self.send("READY=1", *self._status_field(status))

    def status(self, text: str) -> bool:
        """Send STATUS=text, folded to one line (shown by `systemctl status`)."""
        return self.send(*self._status_field(text))

    def watchdog(self) -> bool:
        """Send WATCHDOG=1: the daemon is alive and responsive."""
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        """Send RELOADING=1 and MONOTONIC_USEC (as Type=notify-reload wants); call ready() after."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """Send STOPPING=1: a shutdown has begun."""
        return self.send("STOPPING=1")

    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds from $WATCHDOG_USEC, or None when not enabled.

        None as well when there is no notification socket, when $WATCHDOG_PID names another
        process (the variables were inherited), or when the value is not a positive integer.
        """
        if not self.enabled or not self._watchdog_usec:
            return None
        if self._watchdog_pid and self._watchdog_pid != str(self._pid):
            return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 1_000_000 if usec > 0 else None

    def send(self, *fields: str) -> bool:
        """Send `fields` (KEY=value strings) in one datagram.

        Returns True when it was sent, False when notifying is off or the send failed. Never
        raises; a failure is logged once (a warning) until a later send works.
        """
        if self._address is None or not fields:
            return False
        message = "\n".join(fields).encode("utf-8", "replace")
        try:
            if self._socket is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Non-blocking: a full queue at systemd's end must not stall the event loop.
                sock.setblocking(False)
                self._socket = sock
            self._socket.sendto(message, self._address)
        except OSError as err:
            if not self._failing:
                log.warning(
                    "sd_notify_failed",
                    notify_socket=self._socket_name,
                    message=fields[0],
                    error=f"{type(err).__name__}: {err}",
                )
            else:
                log.debug("sd_notify_failed", message=fields[0], error=str(err))
            self._failing = True
            return False
        if self._failing:
            log.info("sd_notify_recovered", notify_socket=self._socket_name)
            self._failing = False
        return True

    def close(self) -> None:
        """Close the socket (a later send opens a new one)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> SdNotifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _status_field(text: str | None) -> tuple[str, ...]:
        if text is None:
            return ()
        return ("STATUS=" + " ".join(text.split()),)


def _address(name: str) -> str | bytes | None:
    """The socket address of a NOTIFY_SOCKET value: a path, or "@name" as an abstract address."""
    if name.startswith("/"):
        return name
    if name.startswith("@") and len(name) > 1:
        return b"\0" + name[1:].encode()
    return None


class Watchdog:
    """Sends WATCHDOG=1 every `period` seconds from the event loop while `healthy()` is True.

    `period` defaults to half of the notifier's watchdog interval; without a watchdog (no
    $WATCHDOG_USEC) `start()` does nothing. The checks keep running while unhealthy, so pinging
    resumes if `healthy()` turns True again before systemd's timeout; a `healthy()` that raises
    counts as unhealthy.
    """

    def __init__(
        self,
        notifier: SdNotifier,
        healthy: Callable[[], bool],
        *,
        period: float | None = None,
        reason: Callable[[], str] | None = None,
    ) -> None:
        self._notifier = notifier
        self._healthy = healthy
        self._reason = reason
        if period is None:
            interval = notifier.watchdog_interval()
            period = interval / 2 if interval is not None else None
        self.period = max(period, MIN_PING_PERIOD) if period is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.Handle | None = None
        self._withheld = False

    @property
    def running(self) -> bool:
        """True between a start() that scheduled pings and stop()."""
        return self._handle is not None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Ping now (if healthy) and then every `period` on `loop` (default: the running loop).

        Returns False (and does nothing) when the watchdog is not enabled. Call it from the loop
        thread; calling it again while running changes nothing.
        """
        if self.period is None or not self._notifier.enabled:
            return False
        if self._handle is not None:
            return True
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._tick)
        log.debug("watchdog_started", period=self.period)
        return True

    def stop(self) -> None:
        """Stop pinging (before STOPPING=1 and a clean exit)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        if self._is_healthy():
            if self._withheld:
                log.info("watchdog_resumed")
                self._withheld = False
            self._notifier.watchdog()
        elif not self._withheld:
            why = "a cycle has run past its bound; systemd will restart the daemon"
            log.error("watchdog_withheld", reason=self._reason() if self._reason else why)
            self._withheld = True
        if self._loop is not None and self.period is not None:
            self._handle = self._loop.call_later(self.period, self._tick)

    def _is_healthy(self) -> bool:
        try:
            return bool(self._healthy())
        except Exception as err:  # noqa: BLE001 -- a broken check must stop the pings, not the loop
            log.error("watchdog_check_failed", error=f"{type(err).__name__}: {err}")
            return False


class CycleGuard:
    """Which cycles are running and since when; `healthy()` is False once one overruns `bound`.

    `bound` is in seconds of `clock` (monotonic by default). Wrap each cycle in
    `with guard.running(name):` — the cycle counts as finished when the block exits, also by an
    exception, so a failing Ozon never looks like a wedged daemon.
    """

    def __init__(self, bound: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.bound = bound
        self._clock = clock
        self._started: dict[str, float] = {}

    @contextmanager
    def running(self, name: str) -> Iterator[None]:
        """Mark cycle `name` as running for the duration of the with-block."""
        self._started[name] = self._clock()
        try:
            yield
        finally:
            self._started.pop(name, None)

    def overrun(self) -> list[str]:
        """The names of the cycles that have been running longer than `bound`."""
        now = self._clock()
        return [name for name, since in self._started.items() if now - since > self.bound]

    def healthy(self) -> bool:
        """True while no cycle has been running longer than `bound`."""
        return not self.overrun()
