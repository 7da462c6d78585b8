"""A sandbox in its own process, for end-to-end tests and benchmarks (its CPU is not ours).

    with SandboxProcess("--postings", "100000") as sb:
        run_daemon_against(sb.base_url, sb.client_id, sb.api_key)
        sb.set_knobs(fail_next=3)
        sb.action("ship", posting_number="...")

Starts `python -m daemon.sandbox --port 0 --ready-file ...`, waits for the ready file, and stops
the process with SIGTERM (then SIGKILL) on exit. Knobs and actions go through the admin
endpoints on 127.0.0.1.

This module imports only the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["SandboxProcess"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class SandboxProcess:
    """`python -m daemon.sandbox` as a child process; a context manager."""

    def __init__(self, *args: str, ready_timeout: float = 120.0) -> None:
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self.base_url = ""
        self.client_id = ""
        self.api_key = ""
        self.clients: list[dict[str, str]] = []  # every client's client_id and api_key
        self.returncode: int | None = None  # the child's exit status once stopped
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The child's process id; RuntimeError when it is not running."""
        if self._proc is None:
            raise RuntimeError("the sandbox process is not started")
        return self._proc.pid

    def start(self) -> SandboxProcess:
        """Start the child and wait until it listens.

        Raises RuntimeError (with the child's stderr) if it exits or is not ready in time.
        """
        self._dir = tempfile.TemporaryDirectory(prefix="ozon-sandbox-")
        folder = Path(self._dir.name)
        ready = folder / "ready.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_PACKAGE_ROOT), env.get("PYTHONPATH")])
        )
        command = [sys.executable, "-m", "daemon.sandbox", "--ready-file", str(ready), *self.args]
        with (folder / "stdout").open("wb") as out, (folder / "stderr").open("wb") as err:
            self._proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)  # noqa: S603 - our own module
        deadline = time.monotonic() + self.ready_timeout
        while not ready.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                stderr = (folder / "stderr").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"the sandbox process did not start: {stderr.strip()[-2000:]}")
            time.sleep(0.05)
        info = json.loads(ready.read_text(encoding="utf-8"))
        self.base_url, self.client_id, self.api_key = (
            info["base_url"],
            info["client_id"],
            info["api_key"],
        )
        self.clients = info.get("clients", [])
        return self

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s) and remove its files."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self.returncode = self._proc.returncode
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _admin(
        self, method: str, name: str, data: dict[str, Any] | None = None, client_id: str = ""
    ) -> Any:
        body = None if data is None else json.dumps(data).encode()
        headers = {"Client-Id": client_id} if client_id else {}
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            f"{self.base_url}/__sandbox__/{name}", data=body, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
            return json.loads(answer.read())

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """Change knobs in the child; returns all knobs. HTTPError 400 for a bad knob."""
        result: dict[str, Any] = self._admin("POST", "knobs", changes)
        return result

    def action(self, action: str, *, client_id: str = "", **fields: Any) -> dict[str, Any]:
        """Run a scenario verb in the child (`ship`, `split`, `add_posting`, `advance`...), on
        client 0 or the client `client_id` names (`--clients`)."""
        body = {"action": action, **fields}
        result: dict[str, Any] = self._admin("POST", "action", body, client_id=client_id)
        return result

    def calls(self, client_id: str = "") -> list[dict[str, Any]]:
        """The child's recorded API calls (of one client with `--clients`: client 0 unless
        `client_id` names another)."""
        result: list[dict[str, Any]] = self._admin("GET", "calls", client_id=client_id)
        return result

    def cancel_requests(self, posting_number: str | None = None) -> Any:
        """The child's cancel requests: for one posting, the HTTP statuses answered in order
        (0 = dropped; empty when none came); else a dict of every posting's list."""
        result: dict[str, list[int]] = self._admin("GET", "cancels")
        return result if posting_number is None else result.get(posting_number, [])
