"""/healthz and /metrics served exactly as `run` serves them (daemon.web.health's Starlette app
on daemon.web.serve's uvicorn server), on an asyncio loop of its own in one thread, so that
synchronous tests can talk to it with plain sockets and httpx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from daemon.health import IDLE_TIMEOUT, MAX_CONNECTIONS, REQUEST_DEADLINE, Health
from daemon.metrics import Metrics
from daemon.web.health import health_app
from daemon.web.serve import Limits, WebServer

__all__ = ["HealthServer", "LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread; `call(coro)` runs a coroutine on it and
    returns its result (or raises its exception)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HealthServer:
    """GET /healthz and /metrics on host:port (port 0: a free one), as `run` serves them."""

    def __init__(
        self,
        host: str,
        port: int,
        health: Health,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = _utcnow,
        idle_timeout: float = IDLE_TIMEOUT,
        request_deadline: float = REQUEST_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.server = WebServer(
            health_app(health, metrics, clock=clock),
            host,
            port,
            limits=Limits(idle_timeout, request_deadline, max_connections),
            name="health",
        )
        self._loop: LoopThread | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def start(self) -> HealthServer:
        """Serve; raises what WebServer.start raises (ListenError) after closing the loop."""
        self._loop = LoopThread()
        try:
            self._loop.call(self.server.start())
        except BaseException:
            self._loop.close()
            self._loop = None
            raise
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call(self.server.stop())
            self._loop.close()
            self._loop = None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
