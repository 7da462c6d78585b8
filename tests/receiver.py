"""A local HTTP receiver for `json://127.0.0.1:PORT/...` notification routes.

Apprise's json:// plugin POSTs {"version", "title", "message", "type"}; the receiver records
every message and answers 200, or 500 for the first `fail_first` requests of a path.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One message as the route received it."""

    path: str
    title: str
    message: str
    raw: dict[str, Any] = field(repr=False)


class Receiver:
    """Start with `with Receiver() as rx:`; `rx.url("/a")` is a json:// route URL."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.fail_first: dict[str, int] = {}
        self.attempts: dict[str, int] = {}
        self.gets: list[tuple[float, str]] = []
        self.arrivals: list[float] = []  # time.time() of each message received
        self.bodies: list[bytes] = []  # every POST's body, raw, as received
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.bodies.append(body)
                    receiver.attempts[self.path] = receiver.attempts.get(self.path, 0) + 1
                    failing = receiver.fail_first.get(self.path, 0)
                    if failing > 0:
                        receiver.fail_first[self.path] = failing - 1
                    elif not body.lstrip().startswith(b"{"):  # a heartbeat with a message
                        receiver.gets.append((time.monotonic(), self.path))
                    else:
                        data = json.loads(body)
                        receiver.messages.append(
                            Received(
                                self.path, data.get("title", ""), data.get("message", ""), data
                            )
                        )
                        receiver.arrivals.append(time.time())
                self.send_response(500 if failing > 0 else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # heartbeat pings
                with receiver._lock:
                    receiver.gets.append((time.monotonic(), self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook") -> str:
        """The Apprise URL of a route that posts to `path` here."""
        return f"json://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        """Messages received on `path`."""
        with self._lock:
            return [m for m in self.messages if m.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 30) -> list[Received]:
        """Wait until at least `count` messages arrived (on `path`), or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.on(path) if path else list(self.messages)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.on(path) if path else list(self.messages)
