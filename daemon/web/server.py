"""The board of one config: its application, its server, and the `board` command.

- `board_token(config)`: the `[board]` token from its source (ConfigError, exit 78, when its
  source is missing, empty or too short).
- `board_site(config, store, token, listen=...)`: the app for one config over an open store,
  with the address it is meant for and its housekeeping (the data lets go of decoded postings
  nobody reads): the page in `[board] language` (else `[daemon] language`), deadlines in
  `[daemon] timezone`, staleness after three `poll_interval`s, `working_seconds_left` from
  `[[calendars]]`.
- `board_server(...)`: that site as a `BoardServer` (a `daemon.web.serve.WebServer` whose
  `start()` raises `BoardListenError` naming the board when its address cannot be bound).
- `serve_board(config, listen, token, out, databases)`: the `board` command: the local
  databases alone (every shard's, merged; no API keys), until SIGTERM or SIGINT.

Imports the config, the store, daemon.merged, the calendars and daemon.web's app, auth, data,
serve and settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import structlog
from starlette.types import ASGIApp

from daemon.calendars import build_calendars
from daemon.config import Config, ConfigError
from daemon.health import ListenError
from daemon.merged import Databases
from daemon.secrets import Secret
from daemon.store import Store
from daemon.web.app import board_app
from daemon.web.auth import BoardAuth
from daemon.web.data import BoardData
from daemon.web.serve import Limits, WebServer
from daemon.web.settings import BoardListenError, is_loopback, read_token, split_listen

__all__ = [
    "BOARD_LIMITS",
    "BoardListenError",
    "BoardServer",
    "BoardSite",
    "board_server",
    "board_site",
    "board_token",
    "serve_board",
]

log = structlog.get_logger(__name__)

# A wall screen and a few phones, each browser opening up to six connections.
BOARD_LIMITS = Limits(max_connections=64)


class BoardServer(WebServer):
    """A WebServer for the board: an address it cannot bind is a BoardListenError (exit 75)
    that names the board and the keys that choose its address."""

    async def start(self) -> BoardServer:
        """Bind and serve (see WebServer.start); raises BoardListenError."""
        try:
            await super().start()
        except ListenError as err:
            where = f"[{self.host}]" if ":" in self.host else self.host
            reason = str(err).split(": ", 1)[-1]
            raise BoardListenError(
                f"cannot listen on {where}:{self.port} for the board: {reason}; free the port "
                "or change [board] listen / --listen"
            ) from err
        log.info("board_listening", url=self.url)
        return self


@dataclass(frozen=True)
class BoardSite:
    """The board's application for one config, where it is meant to listen, and what to call
    every minute."""

    app: ASGIApp
    host: str
    port: int
    housekeeping: Callable[[], None]


def board_token(config: Config, env: Mapping[str, str] | None = None) -> Secret | None:
    """The `[board]` token (None: none configured, a read-only board); raises ConfigError
    when its source is missing or empty, or the token is too short or not header-safe."""
    problems: list[str] = []
    token = read_token(config.board, os.environ if env is None else env, problems)
    if problems:
        raise ConfigError(config.path, problems)
    return token


def _utc_now() -> datetime:
    return datetime.now(UTC)


def board_site(
    config: Config,
    store: Store | Sequence[Store],
    token: Secret | None,
    *,
    listen: str | None = None,
    language: str | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> BoardSite:
    """The board of `config` over the open `store` (or several, merged) for `listen` (default
    `[board] listen`).
    Raises ConfigError for a non-loopback address without a token (the config's own check
    covers `[board] listen`; this one covers `board --listen`), ValueError for a `listen`
    that is not HOST:PORT."""
    address = listen or config.board.listen
    if address is None:
        raise ValueError("no address for the board: set [board] listen")
    host, port = split_listen(address)
    if token is None and not is_loopback(host):
        raise ConfigError(
            config.path,
            [
                f'board: listen "{address}" is not a loopback address and [board] sets no '
                "token, so anyone on the network could read the board: set token_env, "
                "token_file, token_credential or token, or listen on 127.0.0.1"
            ],
        )
    _, calendars = build_calendars(config.calendars, config.daemon.timezone)
    data = BoardData(
        store,
        accounts=[account.name for account in config.accounts],
        poll_interval=config.daemon.poll_interval,
        calendars=calendars,
        now=now,
    )
    auth = BoardAuth(token, reads_need_token=not is_loopback(host))
    app = board_app(
        data,
        auth,
        language=language or config.board.language or config.daemon.language,
        zone=config.daemon.zone,
    )
    return BoardSite(app, host, port, data.forget_if_idle)


def board_server(
    config: Config,
    store: Store | Sequence[Store],
    token: Secret | None,
    *,
    listen: str | None = None,
    language: str | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> BoardServer:
    """`board_site(...)` as a server, not started (same errors)."""
    site = board_site(config, store, token, listen=listen, language=language, now=now)
    return BoardServer(
        site.app, site.host, site.port, limits=BOARD_LIMITS, housekeeping=site.housekeeping,
        name="board",
    )  # fmt: skip


async def serve_board(
    config: Config, listen: str, token: Secret | None, out: TextIO, databases: Databases
) -> int:
    """The `board` command: serve the board of `databases` (every shard's, merged) on `listen`
    until SIGTERM or SIGINT, printing its address on `out`; returns 0. Raises ConfigError,
    StoreError or BoardListenError."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with databases.open_all("annotate") as stores:
        server = board_server(config, stores, token, listen=listen)
        await server.start()
        mode = "read-only (no [board] token)" if token is None else "token needed to write"
        shards = f", {len(stores)} shard databases" if len(stores) > 1 else ""
        out.write(f"ozon-sync board: serving {server.url} ({mode}{shards}); stop with Ctrl-C\n")
        out.flush()
        try:
            await stop.wait()
        finally:
            await server.stop()
    return 0
