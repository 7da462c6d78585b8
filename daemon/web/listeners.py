"""The `run` process's HTTP listeners: /healthz and /metrics on `[health] listen`, the board on
`[board] listen`, each served by uvicorn inside the daemon's loop (daemon.web.serve).

`Listeners.start(config, store, health, metrics, now=...)` starts what the config asks for:
nothing, one server, or two; when both keys name the same address, one server answers
/healthz and /metrics and the board's paths (daemon.web.health.with_health). An address the
machine cannot serve is a ConfigError naming `health.listen` (exit 78, so systemd does not
restart into the same failure); a board alone on an address it cannot bind raises
BoardListenError (exit 75), as the `board` command does. `stop()` stops them all.

Imports the config, the store, daemon.health, daemon.logs (the board token is a secret),
daemon.metrics and daemon.web's health, serve and server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog

from daemon.config import Config, ConfigError
from daemon.health import NOT_LOOPBACK, Health, ListenError, is_loopback, split_listen
from daemon.logs import register_secrets
from daemon.metrics import Metrics
from daemon.store import Store
from daemon.web.health import health_app, with_health
from daemon.web.serve import Limits, WebServer
from daemon.web.server import BOARD_LIMITS, BoardServer, board_site, board_token

__all__ = ["Listeners"]

log = structlog.get_logger(__name__)


class Listeners:
    """The HTTP servers of one `run` process (empty when the config sets no listen key)."""

    def __init__(self, servers: list[WebServer]) -> None:
        self.servers = servers
        self.config_path: Path | None = None

    @classmethod
    async def start(
        cls,
        config: Config,
        store: Store,
        health: Health,
        metrics: Metrics,
        *,
        now: Callable[[], datetime],
    ) -> Listeners:
        """Start the servers `config` asks for (see the module docstring for the errors);
        a server started before another one failed is stopped again."""
        running = cls([])
        try:
            await running._start(config, store, health, metrics, now)
        except BaseException:
            await running.stop()
            raise
        return running

    async def _start(
        self,
        config: Config,
        store: Store,
        health: Health,
        metrics: Metrics,
        now: Callable[[], datetime],
    ) -> None:
        self.config_path = config.path
        listen = config.health.listen
        address = split_listen(listen) if listen else None
        if listen and address is not None and not is_loopback(address[0]):
            log.warning("health_listen_not_loopback", listen=listen, reason=NOT_LOOPBACK)
        monitoring = health_app(health, metrics, clock=now)
        board = None
        if config.board.listen is not None:
            token = board_token(config)
            if token is not None:
                register_secrets([token.reveal()])
            board = board_site(config, store, token, now=now)
        if board is not None and address == (board.host, board.port):
            shared = WebServer(
                with_health(monitoring, board.app), board.host, board.port,
                limits=BOARD_LIMITS, housekeeping=board.housekeeping, name="health+board",
            )  # fmt: skip
            await self._serve(shared, "health.listen (also board.listen)")
            log.info("health_listening", url=shared.url.rstrip("/"))
            log.info("board_listening", url=shared.url)
            return
        if address is not None:
            server = WebServer(monitoring, *address, limits=Limits(), name="health")
            await self._serve(server, "health.listen")
            log.info("health_listening", url=server.url.rstrip("/"))
        if board is not None:  # its own BoardListenError (75), as the `board` command
            alone = BoardServer(
                board.app, board.host, board.port, limits=BOARD_LIMITS,
                housekeeping=board.housekeeping, name="board",
            )  # fmt: skip
            self.servers.append(await alone.start())

    async def _serve(self, server: WebServer, key: str) -> None:
        """Start `server`; an address it cannot bind is a config problem naming `key`."""
        try:
            await server.start()
        except ListenError as err:
            raise ConfigError(self.config_path, [f"{key}: {err}"]) from err
        self.servers.append(server)

    async def stop(self) -> None:
        """Stop every server (requests in flight get a few seconds)."""
        for server in reversed(self.servers):
            await server.stop()
        self.servers.clear()
