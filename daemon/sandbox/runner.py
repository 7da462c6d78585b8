"""Starting and stopping a sandbox: in a background thread (tests), or in the foreground until
SIGINT/SIGTERM (`ozon-sync sandbox`, `python -m daemon.sandbox`).

    with Sandbox(SandboxOptions(scenario="demo")) as sb:
        client = OzonClient(base_url=sb.base_url, client_id=sb.client_id, api_key=sb.api_key)
        sb.ship("10000004-0004-1"); sb.knobs.fail_next = 2; sb.calls[-1].status ...

This module imports only the standard library and the sandbox's own modules.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

from daemon.sandbox.app import Call, SandboxApp, SandboxOptions
from daemon.sandbox.knobs import Knobs
from daemon.sandbox.server import SandboxServer
from daemon.sandbox.tenants import Tenants, tenant_options

__all__ = ["Sandbox", "config_snippet", "run_forever"]


class Sandbox:
    """A sandbox serving on 127.0.0.1 from a background thread; a context manager."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self.tenants = Tenants(self.options)
        self.app: SandboxApp = self.tenants.first  # client 0: what the verbs below act on
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Bind the port, serve in a daemon thread, return self; OSError if the port is taken."""
        if self._server is None:
            self._server = SandboxServer(self.tenants, self.options.port)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="ozon-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging answers and close the socket (idempotent)."""
        self.tenants.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`; RuntimeError before `start()`."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return self._server.base_url

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted so far."""
        return 0 if self._server is None else self._server.connections

    @property
    def client_id(self) -> str:
        """The Client-Id the sandbox accepts."""
        return self.options.client_id

    @property
    def api_key(self) -> str:
        """The Api-Key the sandbox accepts."""
        return self.options.api_key

    def credentials(self) -> list[dict[str, str]]:
        """`[{"client_id", "api_key"}]` of every client (`clients`), client 0 first."""
        return self.tenants.credentials()

    def client(self, client_id: str) -> SandboxApp:
        """The app of one client (its verbs, knobs and calls); client 0 for an unknown id."""
        return self.tenants.app_for(client_id)

    @property
    def knobs(self) -> Knobs:
        """The live knobs: assigning a field takes effect on the next request."""
        return self.app.knobs

    @property
    def calls(self) -> list[Call]:
        """A copy of the recorded API calls, oldest first."""
        return self.app.calls

    def calls_to(self, path: str) -> list[Call]:
        """The recorded calls of one API path."""
        return [call for call in self.app.calls if call.path == path]

    def clear_calls(self) -> None:
        """Forget the recorded calls (not the `cancel_requests` counts)."""
        self.app.clear_calls()

    def cancel_requests(self, posting_number: str | None = None) -> Any:
        """Cancel requests received so far: for one posting, the list of HTTP statuses answered
        (0 = connection dropped; empty when none came); else a dict of every posting's list."""
        requests = self.app.cancel_requests()
        return requests if posting_number is None else requests.get(posting_number, [])

    def change_at(
        self,
        posting_number: str,
        change: str,
        *,
        at: datetime | None = None,
        after: float | None = None,
    ) -> None:
        """Schedule `change` (`ship`, `pack`, `in_carriage`, `hand_over`, `cancel_by_buyer`) of a
        posting at sandbox time `at` or `after` seconds from now (the `change_at` knob)."""
        self.app.change_at(posting_number, change, at=at, after=after)

    def set_knobs(self, **changes: Any) -> None:
        """Change knobs by name (validated, all or nothing); ValueError for a bad one."""
        self.app.set_knobs(changes)

    def now(self) -> datetime:
        """The sandbox's current time."""
        return self.app.clock.now()

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward; due scenario events apply on the next request."""
        self.app.advance(seconds)

    def ship(self, posting_number: str) -> None:
        """The seller assembles the posting: awaiting_packaging -> awaiting_deliver."""
        self.app.change(posting_number, "ship")

    def pack(self, posting_number: str) -> None:
        """The posting is assembled, not in a carriage yet: awaiting_deliver, substatus
        posting_not_in_carriage (no hand-over substatus)."""
        self.app.change(posting_number, "pack")

    def in_carriage(self, posting_number: str) -> None:
        """The posting is assembled and put in a carriage: awaiting_deliver, substatus
        posting_in_carriage (a hand-over substatus)."""
        self.app.change(posting_number, "in_carriage")

    def hand_over(self, posting_number: str) -> None:
        """The posting is handed to delivery: awaiting_deliver -> delivering."""
        self.app.change(posting_number, "hand_over")

    def cancel_by_buyer(self, posting_number: str) -> None:
        """The buyer cancels the posting (cancellation_type `client`, reason 501)."""
        self.app.change(posting_number, "cancel_by_buyer")

    def cancel_by_seller(self, posting_number: str, reason_id: int = 352) -> None:
        """The seller's staff cancel it in Ozon's web interface (not through the API)."""
        self.app.cancel_by(posting_number, "seller", reason_id)

    def move_deadline(self, posting_number: str, new: datetime) -> None:
        """Ozon moves the posting's shipment_date to `new`."""
        self.app.move_deadline(posting_number, new)

    def split(self, posting_number: str, parts: int = 2) -> list[str]:
        """Ozon splits the posting; returns the new posting numbers (`...-2`, `...-3`)."""
        return self.app.split(posting_number, parts)

    def add_posting(self, shipment_date: datetime, **kwargs: Any) -> str:
        """A new posting arrives, due at `shipment_date`; returns its number.

        Keyword arguments: `posting_number`, `status`, `reasons`, `warehouse_id`.
        """
        return self.app.add_posting(shipment_date, **kwargs)

    def status(self, posting_number: str) -> str:
        """The posting's current status; KeyError for an unknown posting."""
        return self.app.status(posting_number)

    def posting(self, posting_number: str) -> dict[str, Any]:
        """The posting as `/v3/posting/fbs/get` shows it; KeyError for an unknown posting."""
        return self.app.get_json(posting_number)

    def posting_numbers(self, status: str | None = None) -> list[str]:
        """All posting numbers, or those in `status`."""
        return self.app.posting_numbers(status)


def config_snippet(base_url: str, options: SandboxOptions) -> str:
    """The config lines that point ozon-sync at a sandbox (TOML, ready to paste): one
    `[[accounts]]` per client."""
    what = f"{options.postings} postings" if options.scenario == "bulk" else options.scenario
    if options.clients > 1:
        what = f"{options.clients} accounts of {what}"
    lines = [
        f"# Simulated Ozon Seller API on {base_url} ({what}); Ctrl-C stops it.",
        "# Put these lines in config.toml:",
        "[ozon]",
        f'base_url = "{base_url}"',
    ]
    for index in range(options.clients):
        client = tenant_options(options, index)
        name = "sandbox" if options.clients == 1 else f"sandbox-{index}"
        lines += ["", "[[accounts]]", f'name = "{name}"', f'client_id = "{client.client_id}"',
                  f'api_key = "{client.api_key}"']  # fmt: skip
    return "\n".join(lines) + "\n"


def _write_ready(path: Path, sandbox: Sandbox) -> None:
    data = {
        "base_url": sandbox.base_url,
        "client_id": sandbox.client_id,
        "api_key": sandbox.api_key,
        "clients": sandbox.credentials(),
        "pid": os.getpid(),
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)


def run_forever(
    options: SandboxOptions,
    out: TextIO,
    *,
    ready_file: Path | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or until `stop` is set); return the exit code 0.

    Prints the config snippet to `out` once listening, and writes `ready_file` (JSON with
    `base_url`, `client_id`, `api_key`, `pid`) if given. Raises OSError when the port is taken.
    """
    stop = stop or threading.Event()
    restore: list[tuple[signal.Signals, Any]] = []
    if threading.current_thread() is threading.main_thread():

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            restore.append((signum, signal.signal(signum, _on_signal)))
    try:
        with Sandbox(options) as sandbox:
            out.write(config_snippet(sandbox.base_url, options))
            out.flush()
            if ready_file is not None:
                _write_ready(ready_file, sandbox)
            while not stop.wait(0.2):
                pass
        print("sandbox stopped", file=sys.stderr)
    finally:
        for signum, handler in restore:
            signal.signal(signum, handler)
    return 0
