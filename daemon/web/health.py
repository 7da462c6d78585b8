"""/healthz and /metrics as an ASGI application, and the same two paths in front of the board.

- `health_app(health, metrics, clock=...)`: GET /healthz answers `Health.healthz(now)` (200 or
  503, plain text), GET /metrics is `prometheus_client.make_asgi_app` over the daemon's own
  registry (text format, OpenMetrics and gzip when the scraper asks); anything else is 404.
- `with_health(health, board)`: one application for one address: /healthz and /metrics go to
  `health`, every other path to the board (used when `[health] listen` and `[board] listen`
  name the same address).

Imports Starlette, prometheus-client and daemon.health / daemon.metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.health import TEXT_PLAIN, Health
from daemon.metrics import Metrics

__all__ = ["HEALTH_PATHS", "health_app", "with_health"]

HEALTH_PATHS = frozenset({"/healthz", "/metrics"})
NOT_FOUND = "not found: try /healthz or /metrics\n"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _text(status: int, text: str) -> Response:
    return PlainTextResponse(
        text, status_code=status, media_type=TEXT_PLAIN, headers={"cache-control": "no-store"}
    )


class _Endpoint:
    """An ASGI app as a route's endpoint (Starlette calls a plain function with a Request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def health_app(
    health: Health, metrics: Metrics, *, clock: Callable[[], datetime] = _utc_now
) -> Starlette:
    """GET /healthz and /metrics over `health` and `metrics`; `clock` gives the aware `now`
    /healthz judges staleness at (tests inject it)."""

    async def healthz(request: Request) -> Response:
        status, text = health.healthz(clock())
        return _text(status, text)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _text(404, NOT_FOUND)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _text(405, "only GET is served here\n")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", _Endpoint(make_asgi_app(registry=metrics.registry)), methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )


def with_health(health: ASGIApp, board: ASGIApp) -> ASGIApp:
    """One application serving /healthz and /metrics from `health` and the rest from `board`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        target = health if scope["type"] == "http" and scope["path"] in HEALTH_PATHS else board
        await target(scope, receive, send)

    return app
