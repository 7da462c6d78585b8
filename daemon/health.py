"""Outside monitoring: /healthz and /metrics over HTTP, and the heartbeat ping.

- `Health` knows `poll_interval` and each account's last successful sync. `healthz(now)` is
  200 while every account synced within STALE_AFTER x poll_interval (an account that never synced
  is measured from the start), else 503 naming the stale accounts; the body is plain text.
  `cycle_finished(...)` also feeds `Metrics` when one is given.
- GET /healthz and /metrics are served by `daemon.web.health` (Starlette, with
  `prometheus_client.make_asgi_app`) through uvicorn inside the daemon's own asyncio loop
  (`daemon.web.serve`), with the connection bounds below (`IDLE_TIMEOUT`, `REQUEST_DEADLINE`,
  `MAX_CONNECTIONS`); an address it cannot bind raises `ListenError` saying why.
  `split_listen("127.0.0.1:9464")` gives its (host, port); `is_loopback(host)` says whether
  only this machine can reach it.
- `Heartbeat(url)` pings the URL after a completed cycle and URL + "/fail" after a failed one
  (healthchecks.io style), over an httpx AsyncClient with a short timeout and a few quick
  retries. A failed ping only warns, once until a ping works again, and never raises. The URL
  is a secret: logs show only `mask_url(url)` (scheme and host).

This module imports only prometheus-client (through `daemon.metrics`), httpx, structlog,
`daemon.redact` and the standard library; never config or store: the service passes the values
in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from ipaddress import ip_address
from urllib.parse import urlsplit

import httpx
import structlog

from daemon.metrics import Metrics
from daemon.redact import redact_text

__all__ = [
    "IDLE_TIMEOUT",
    "MAX_CONNECTIONS",
    "NOT_LOOPBACK",
    "REQUEST_DEADLINE",
    "STALE_AFTER",
    "TEXT_PLAIN",
    "Health",
    "Heartbeat",
    "ListenError",
    "is_loopback",
    "mask_url",
    "split_listen",
]

log = structlog.get_logger(__name__)

STALE_AFTER = 3  # /healthz fails once an account's last success is older than this many intervals
HEARTBEAT_TIMEOUT = 10.0  # seconds per ping attempt
HEARTBEAT_RETRY_WAITS = (1.0, 3.0)  # waits between attempts: three attempts in all
IDLE_TIMEOUT = 5.0  # seconds a connection may stay silent before it is closed
REQUEST_DEADLINE = 15.0  # seconds to receive a whole request, however slowly it trickles in
MAX_CONNECTIONS = 16  # connections served at once (a scrape needs one); more get 503 at once
TEXT_PLAIN = "text/plain; charset=utf-8"
NOT_LOOPBACK = (
    "[health] listen is not a loopback address: /metrics and /healthz answer anyone who can "
    "reach it, without authentication; prefer 127.0.0.1 (behind a reverse proxy if needed)"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ListenError(Exception):
    """A server cannot listen on its address; `str()` is a one-line reason."""


def is_loopback(host: str) -> bool:
    """True when `host` is "localhost" or a loopback address (127.0.0.0/8, ::1): only this
    machine reaches a server listening there."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


class Health:
    """Per-account last successful sync times and the /healthz verdict over them.

    `poll_interval` is a timedelta; `started_at` (aware, default now) is the baseline for an
    account that has not synced yet. Safe to read and update from any thread.
    """

    def __init__(
        self,
        poll_interval: timedelta,
        accounts: Iterable[str],
        *,
        metrics: Metrics | None = None,
        started_at: datetime | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._metrics = metrics
        self._poll_interval = poll_interval
        self._baseline = started_at if started_at is not None else _utcnow()
        self._accounts: dict[str, datetime] = {}  # account -> baseline for one never synced
        self._last_success: dict[str, datetime] = {}
        self._last_ok: dict[str, bool] = {}
        self.configure(poll_interval, accounts, now=self._baseline)

    def configure(self, poll_interval: timedelta, accounts: Iterable[str], now: datetime) -> None:
        """Apply a (re)loaded config: new accounts are measured from `now`, removed ones are
        forgotten (their metrics too)."""
        names = list(accounts)
        with self._lock:
            self._poll_interval = poll_interval
            for gone in set(self._accounts) - set(names):
                del self._accounts[gone]
                self._last_success.pop(gone, None)
                self._last_ok.pop(gone, None)
                if self._metrics is not None:
                    self._metrics.forget_account(gone)
            for name in names:
                if name not in self._accounts:
                    self._accounts[name] = now
                    if self._metrics is not None:
                        self._metrics.add_account(name)

    def cycle_finished(
        self, account: str, ok: bool, at: datetime, duration: float | None = None
    ) -> None:
        """Record a finished cycle of `account` at `at` (aware); a successful one is its last
        sync. With Metrics, also counts the cycle (and its `duration`, seconds) there."""
        with self._lock:
            self._last_ok[account] = ok
            if ok:
                self._last_success[account] = at
        if self._metrics is not None:
            if duration is not None:
                self._metrics.cycle_finished(account, ok, duration)
            if ok:
                self._metrics.sync_succeeded(account, at)

    def last_success(self, account: str) -> datetime | None:
        """The time of `account`'s last successful sync, None if none since the start."""
        with self._lock:
            return self._last_success.get(account)

    @property
    def all_ok(self) -> bool:
        """True when the latest cycle of every account succeeded (or has not run yet): what the
        heartbeat should report after a cycle."""
        with self._lock:
            return all(self._last_ok.get(name, True) for name in self._accounts)

    def healthz(self, now: datetime) -> tuple[int, str]:
        """The /healthz answer at `now` (aware): (200, text) while every account synced within
        STALE_AFTER x poll_interval, else (503, text naming each stale account)."""
        with self._lock:
            limit = STALE_AFTER * self._poll_interval
            stale: list[str] = []
            fresh: list[str] = []
            for name, baseline in self._accounts.items():
                last = self._last_success.get(name)
                age = now - (last if last is not None else baseline)
                if age <= limit:
                    fresh.append(f"{name}: " + ("synced" if last else "starting") + f" {_ago(age)}")
                elif last is None:
                    stale.append(f'account "{name}" has not synced since the start {_ago(age)}')
                else:
                    stale.append(f'account "{name}" last synced {_ago(age)}')
        if stale:
            return 503, "stale: " + "; ".join(stale) + f" (limit {_seconds(limit)})\n"
        return 200, "ok: " + ("; ".join(fresh) or "no accounts") + "\n"


def _seconds(delta: timedelta) -> str:
    return f"{int(delta.total_seconds())}s"


def _ago(age: timedelta) -> str:
    return f"{_seconds(max(age, timedelta(0)))} ago"


def split_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 9464) from "127.0.0.1:9464"; "[::1]:9464" gives ("::1", 9464).

    Raises ValueError when the text is not host:port.
    """
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f'"{listen}" is not host:port such as "127.0.0.1:9464"')
    return host.removeprefix("[").removesuffix("]"), int(port)


def mask_url(url: str) -> str:
    """The loggable form of a secret URL: scheme and host (and a port), nothing else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "***"
    if not host:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _fail_url(url: str) -> str:
    target = httpx.URL(url)
    return str(target.copy_with(path=target.path.rstrip("/") + "/fail"))


class Heartbeat:
    """Pings a dead-man's-switch URL (healthchecks.io, Uptime Kuma push, Cronitor...).

    `ping(ok=True)` GETs the URL, `ping(ok=False)` the URL + "/fail"; with `message`, the request
    is a POST carrying it (healthchecks shows it). Each attempt has `timeout` seconds; transport
    errors, 429 and 5xx are retried after each of `retry_waits`. `client` (an AsyncClient the
    caller owns) and `sleep` may be injected; otherwise the Heartbeat makes and closes its own.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = HEARTBEAT_TIMEOUT,
        retry_waits: Iterable[float] = HEARTBEAT_RETRY_WAITS,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._url = url
        self.masked_url = mask_url(url)
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._retry_waits = tuple(retry_waits)
        self._sleep = sleep
        self._failing = False

    def __repr__(self) -> str:
        return f"Heartbeat({self.masked_url!r})"

    async def ping(self, ok: bool, message: str | None = None) -> bool:
        """Report a completed (`ok`) or failed cycle. Returns True when the ping was accepted.

        Never raises (except cancellation); the first failure is logged as a warning, later
        ones at debug level, and `heartbeat_recovered` once a ping works again.
        """
        if message is not None:  # it leaves for an outside service: no secret in it
            message = redact_text(message)
        try:
            url = self._url if ok else _fail_url(self._url)
        except (httpx.InvalidURL, ValueError, TypeError):
            return self._failed(ok, "the heartbeat URL is not a valid URL")
        problem = ""
        for attempt, wait in enumerate((*self._retry_waits, None), start=1):
            problem, retry = await self._attempt(url, message)
            if not problem:
                if self._failing:
                    log.info("heartbeat_recovered", url=self.masked_url)
                    self._failing = False
                log.debug("heartbeat_sent", url=self.masked_url, ok=ok, attempt=attempt)
                return True
            if not retry or wait is None:
                break
            await self._sleep(wait)
        return self._failed(ok, problem)

    async def _attempt(self, url: str, message: str | None) -> tuple[str, bool]:
        """One request: ("", False) when accepted, else (problem, worth retrying)."""
        try:
            if message is None:
                response = await self._client.get(url, timeout=self._timeout)
            else:
                response = await self._client.post(
                    url, content=message.encode(), timeout=self._timeout
                )
        except httpx.UnsupportedProtocol as err:
            return f"{type(err).__name__}: the heartbeat URL must be http(s)", False
        except httpx.HTTPError as err:
            # The exception text may hold the URL (a secret): name the error class only.
            return f"{type(err).__name__}: no answer from the heartbeat service", True
        except (httpx.InvalidURL, OSError, ValueError, TypeError) as err:
            return f"{type(err).__name__}: cannot send to the heartbeat URL", False
        if response.is_success:
            return "", False
        retry = response.status_code == 429 or response.status_code >= 500
        reason = (
            HTTPStatus(response.status_code).phrase if response.status_code in _STATUSES else ""
        )
        return f"the heartbeat service answered {response.status_code} {reason}".rstrip(), retry

    def _failed(self, ok: bool, problem: str) -> bool:
        if not self._failing:
            log.warning(
                "heartbeat_failed",
                url=self.masked_url,
                ok=ok,
                reason=problem,
                hint="monitoring only: the daemon carries on",
            )
            self._failing = True
        else:
            log.debug("heartbeat_failed", url=self.masked_url, ok=ok, reason=problem)
        return False

    async def aclose(self) -> None:
        """Close the HTTP client if the Heartbeat made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> Heartbeat:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


_STATUSES = frozenset(status.value for status in HTTPStatus)
