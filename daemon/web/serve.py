"""uvicorn inside the daemon's own asyncio loop, with bounds no client can get around.

`WebServer(app, host, port, limits=..., housekeeping=...)` serves one ASGI application (the
board, /healthz and /metrics, or both on one address): `await start()` binds the address
itself, so an address that cannot be bound is a clear `ListenError` (busy, not on this
machine, a name that does not resolve) rather than uvicorn's exit, then runs
`uvicorn.Server.serve` as a task of the running loop (no thread); `await stop()` lets requests
in flight finish (bounded) and closes the socket. uvicorn leaves the process's signal handlers
alone: `run`, `board` and `demo` own them. `housekeeping` is called every minute.

Every connection obeys `Limits` (a port scanner, a stuck proxy or a slow client can hold
nothing for long):

- a connection that sends nothing for `idle_timeout` seconds is closed (before its first
  request, and between requests: uvicorn's keep-alive timeout is the same number);
- a request not received completely within `request_deadline` seconds (from the connection,
  or from the previous answer on it) is closed, however slowly it trickles in;
- at most `max_connections` are served at once: one more is answered `503` at once and
  closed, before reading anything.

Imports uvicorn, h11 (the protocol uvicorn speaks here), starlette's types and daemon.health
(`ListenError`); nothing else of the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import h11
import structlog
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from daemon.health import IDLE_TIMEOUT, MAX_CONNECTIONS, REQUEST_DEADLINE, ListenError

__all__ = ["Limits", "WebServer", "bind"]

log = structlog.get_logger(__name__)

STOP_GRACE = 3  # seconds for requests in flight at shutdown
START_TIMEOUT = 10.0  # seconds for uvicorn to start serving on the bound socket
HOUSEKEEPING_EVERY = 60.0  # seconds between calls of a server's housekeeping
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    b"Connection: close\r\n\r\nbusy\n"
)
_BIND_HINTS = {
    errno.EADDRINUSE: "another process listens there; choose another port",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address",
    errno.EACCES: "ports below 1024 need privileges; choose a port above 1024",
}


@dataclass(frozen=True)
class Limits:
    """What one connection may take: seconds of silence, seconds to send a whole request,
    and how many connections are served at once."""

    idle_timeout: float = IDLE_TIMEOUT
    request_deadline: float = REQUEST_DEADLINE
    max_connections: int = MAX_CONNECTIONS


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_problem(err: BaseException) -> str:
    if isinstance(err, socket.gaierror):
        return f"the host name cannot be resolved ({err.strerror})"
    if isinstance(err, OSError) and err.strerror:
        hint = _BIND_HINTS.get(err.errno or 0)
        return err.strerror + (f" ({hint})" if hint else "")
    return type(err).__name__


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one). Raises ListenError saying why
    the address cannot be bound: busy, not on this machine, not resolvable."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError, OverflowError) as err:
        raise ListenError(f"cannot listen on {_where(host, port)}: {_bind_problem(err)}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except (OSError, UnicodeError, OverflowError) as err:
        sock.close()
        raise ListenError(f"cannot listen on {_where(host, port)}: {_bind_problem(err)}") from err
    return sock


class _Refusals:
    """Whether the connection bound is refusing now: logged once per burst, not per client."""

    refusing = False


def _bounded_protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with `limits` applied to every connection."""
    refusals = _Refusals()

    class Bounded(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._refuse(transport)
                return
            refusals.refusing = False
            # silent from the start: closed like a keep-alive connection that says nothing
            self.timeout_keep_alive_task = self.loop.call_later(
                limits.idle_timeout, self.timeout_keep_alive_handler
            )
            self._arm_deadline()

        def _refuse(self, transport: asyncio.Transport) -> None:
            if not refusals.refusing:
                log.warning(
                    "http_connections_limited",
                    limit=limits.max_connections,
                    client=self.client[0] if self.client else None,
                    reason="every connection slot is taken; refusing more until one is free",
                )
                refusals.refusing = True
            transport.write(_BUSY)
            transport.close()

        def _arm_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(limits.request_deadline, self._too_slow)

        def _too_slow(self) -> None:
            self._deadline = None
            # IDLE: no request yet; SEND_BODY: its body is still coming. DONE: being answered.
            waiting = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
            if waiting and not self.transport.is_closing():
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_deadline()  # the next request on this connection gets its own time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._unset_keepalive_if_required()
            super().connection_lost(exc)

    return Bounded


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the daemon's own stay in place."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """An ASGI app served on host:port by uvicorn, as a task of the running loop."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        limits: Limits | None = None,
        housekeeping: Callable[[], None] | None = None,
        name: str = "web",
    ) -> None:
        self.app = app
        self.host = host
        self.name = name
        self.limits = limits or Limits()
        self._requested_port = port
        self._housekeeping = housekeeping
        self._keeper: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0), else the requested one."""
        return self._requested_port if self._bound_port is None else self._bound_port

    @property
    def url(self) -> str:
        """The base address, e.g. http://127.0.0.1:9465/."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> WebServer:
        """Bind and start serving; returns self once requests are answered. Raises
        ListenError when the address cannot be bound."""
        self._socket = bind(self.host, self._requested_port)
        self._bound_port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            http=_bounded_protocol(self.limits),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            proxy_headers=True,  # X-Forwarded-Proto from a proxy on 127.0.0.1: Secure cookies
            timeout_keep_alive=max(1, round(self.limits.idle_timeout)),
            timeout_graceful_shutdown=STOP_GRACE,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its exception, if any
                await self._close_socket()
                raise ListenError(f"the server on {self.url} stopped at start")
            if loop.time() > deadline:
                await self.stop()
                raise ListenError(f"the server on {self.url} did not start")
            await asyncio.sleep(0.01)
        if self._housekeeping is not None:
            self._keeper = asyncio.create_task(self._keep(self._housekeeping))
        return self

    @staticmethod
    async def _keep(housekeeping: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_EVERY)
            housekeeping()

    async def stop(self) -> None:
        """Stop serving: requests in flight get STOP_GRACE seconds; idempotent."""
        if self._keeper is not None:
            self._keeper.cancel()
            self._keeper = None
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, STOP_GRACE + 2)
        await self._close_socket()
        self._server = self._task = None

    async def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def __aenter__(self) -> WebServer:
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()
