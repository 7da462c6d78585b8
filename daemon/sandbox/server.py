"""The HTTP side of the sandbox: a standard-library threading server speaking HTTP/1.1.

Connections stay open between requests (keep-alive, `Content-Length` on every answer, Nagle off
so small answers are not delayed), so a client's connection pool is exercised like at Ozon.
Each answer carries a `Date` header (shifted by the `date_skew` knob). A "dropped" answer closes
the socket without writing a byte; a "hanging" one waits first (cut short when the server stops).

Every request is answered by the account (`Tenants`) its `Client-Id` header names.

This module imports only the standard library and the sandbox's admin, app, methods and tenants
modules.
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from daemon.sandbox.admin import PREFIX, admin
from daemon.sandbox.app import SandboxApp
from daemon.sandbox.clock import US_PER_S
from daemon.sandbox.methods import Answer
from daemon.sandbox.tenants import Tenants

__all__ = ["SandboxServer"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_MAX_BODY = 10 * 1024 * 1024


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 that answers from a `SandboxApp`, or from the
    app of each request's Client-Id among `Tenants`."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, app: SandboxApp | Tenants, port: int = 0) -> None:
        self.tenants = app if isinstance(app, Tenants) else None
        self.app = app.first if isinstance(app, Tenants) else app
        self.connections = 0  # accepted TCP connections: tests check that clients reuse them
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count and track the connection, then serve it in its own thread."""
        with self._open_lock:
            self.connections += 1
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Close the listening socket and every kept-alive connection, so nothing is served
        after a stop (a client sees its connection closed, as when Ozon restarts)."""
        super().server_close()
        with self._open_lock:
            still_open, self._open = list(self._open), set()
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def app_for(self, client_id: str | None) -> SandboxApp:
        """The app answering a request with this Client-Id header."""
        return self.app if self.tenants is None else self.tenants.app_for(client_id)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, the value for `[ozon] base_url`."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SandboxServer
    _app: SandboxApp | None = None

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log (calls are recorded by the app instead)."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header value: sandbox time, shifted by the `date_skew` knob."""
        app = self._app or self.server.app
        seconds = app.clock.now_us() / US_PER_S + app.knobs.date_skew
        return email.utils.formatdate(seconds, usegmt=True)

    def _read_body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length", "0")
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._send(Answer(400, b'{"code":3,"message":"bad Content-Length","details":[]}'))
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        """Answer an API call or an admin POST."""
        raw = self._read_body()
        if raw is None:
            return
        path = self.path.split("?", 1)[0]
        app = self._app = self.server.app_for(self.headers.get("Client-Id"))
        if path.startswith(PREFIX):
            self._send(admin(app, "POST", path, raw))
            return
        answer = app.handle(path, self.headers.get("Client-Id"), self.headers.get("Api-Key"), raw)
        if answer.hang > 0:
            app.stopping.wait(answer.hang)
        if answer.drop:
            self._drop()
            return
        self._send(answer)

    def do_GET(self) -> None:
        """Answer an admin GET; the Seller API itself is POST only."""
        self._read_body()
        path = self.path.split("?", 1)[0]
        if path.startswith(PREFIX):
            app = self._app = self.server.app_for(self.headers.get("Client-Id"))
            self._send(admin(app, "GET", path, b""))
        else:
            self._send(Answer(404, b'{"code":5,"message":"Not Found","details":[]}'))

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the peer may already be gone
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, answer: Answer) -> None:
        # Status line, headers and body in one write: one packet for a small answer.
        lines = [
            f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Error')}",
            "Server: ozon-sync-sandbox",
            f"Date: {self.date_time_string()}",
            "Content-Type: application/json",
            f"Content-Length: {len(answer.body)}",
            *(f"{name}: {value}" for name, value in answer.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + answer.body)
        except OSError:
            self.close_connection = True
