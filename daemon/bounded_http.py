"""A threading HTTP server that no client can hold forever: the base of the health server.

`http.server.ThreadingHTTPServer` gives every connection a thread that waits as long as the
client likes; a few half-open connections (a port scanner, a stuck proxy) hold threads forever.
`BoundedHTTPServer` with `BoundedHandler`:

- closes a connection idle for `idle_timeout` seconds (nothing received),
- closes one whose request is not read completely within `request_deadline` seconds, however
  slowly it trickles in (each read waits at most for the time that is left),
- serves at most `max_connections` at once: one more is answered `503` without waiting and
  closed, so no thread is started for it.

`BoundedHTTPServer.open(...)` binds with those limits and raises `ListenError` with a one-line
reason when it cannot; `is_loopback(host)` says whether only this machine can reach a host.

Imports structlog and the standard library only.
"""

from __future__ import annotations

import errno
import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any, Self

import structlog

__all__ = ["BoundedHTTPServer", "BoundedHandler", "ListenError", "is_loopback"]

log = structlog.get_logger(__name__)

_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    b"Connection: close\r\n\r\nbusy\n"
)


def is_loopback(host: str) -> bool:
    """True when `host` is "localhost" or a loopback address (127.0.0.0/8, ::1): only this
    machine reaches a server listening there."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


class ListenError(Exception):
    """The server cannot listen on its address; `str()` is a one-line reason."""


_BIND_HINTS = {
    errno.EADDRINUSE: "another process listens there; choose another port",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address",
    errno.EACCES: "ports below 1024 need privileges; choose a port above 1024",
}


def _bind_problem(err: BaseException) -> str:
    if isinstance(err, socket.gaierror):
        return f"the host name cannot be resolved ({err.strerror})"
    if isinstance(err, OSError) and err.strerror:
        hint = _BIND_HINTS.get(err.errno or 0)
        return err.strerror + (f" ({hint})" if hint else "")
    return type(err).__name__


class BoundedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a bound on connections; set the three limits before serving."""

    daemon_threads = True
    idle_timeout: float = 5.0
    request_deadline: float = 15.0
    max_connections: int = 16

    @classmethod
    def open(
        cls,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        idle_timeout: float,
        request_deadline: float,
        max_connections: int,
    ) -> Self:
        """A server bound to `address` with these limits, ready to serve. Raises ListenError
        saying why the address cannot be bound: busy, not on this machine, not resolvable."""
        host, port = address
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            server = cls(address, handler, bind_and_activate=False)
        except (OSError, UnicodeError, OverflowError) as err:
            raise ListenError(f"cannot listen on {where}: {_bind_problem(err)}") from err
        server.idle_timeout, server.request_deadline = idle_timeout, request_deadline
        server.max_connections = max_connections
        try:
            server.server_bind()
            server.server_activate()
        except (OSError, UnicodeError, OverflowError) as err:
            server.server_close()
            raise ListenError(f"cannot listen on {where}: {_bind_problem(err)}") from err
        return server

    def server_activate(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._refusing = False
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request, client_address)
            return
        self._refusing = False
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or vanishes is not our error: no traceback on stderr.
        log.debug("http_connection_failed", client=str(client_address[0]), exc_info=True)

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        if not self._refusing:  # once per burst, not once per connection
            log.warning(
                "http_connections_limited",
                limit=self.max_connections,
                client=str(client_address[0]),
                reason="every connection slot is taken; refusing more until one is free",
            )
            self._refusing = True
        try:
            request.setblocking(False)  # never wait for this client
            request.send(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)


class _DeadlineReader(io.RawIOBase):
    """Reads from a socket, each read waiting at most for the idle timeout and never past the
    deadline (time.monotonic()); either limit raises TimeoutError."""

    def __init__(self, sock: socket.socket, idle: float, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._idle = idle
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request was not complete within its deadline")
        self._sock.settimeout(min(self._idle, remaining))
        return self._sock.recv_into(buffer)


class BoundedHandler(BaseHTTPRequestHandler):
    """A request handler whose reads obey the server's idle timeout and request deadline (a
    timeout ends the connection: BaseHTTPRequestHandler closes it on TimeoutError)."""

    server: BoundedHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # also bounds every write
        deadline = time.monotonic() + self.server.request_deadline
        plain = self.rfile
        self.rfile = io.BufferedReader(
            _DeadlineReader(self.connection, self.server.idle_timeout, deadline)
        )
        plain.close()  # its file object only; the socket stays open
