"""Serving the board: uvicorn inside the daemon's own asyncio loop, and the `board` command.

- `BoardServer(app, host, port, housekeeping=...)`: `await start()` binds the address itself
  (so a taken port is a clear `BoardListenError`, not uvicorn's exit), then runs
  `uvicorn.Server.serve` as a task of the running loop (no thread), and calls `housekeeping`
  every minute (the data lets go of decoded postings nobody reads); `await stop()` lets
  requests in flight finish (bounded) and closes the socket. uvicorn leaves the process's
  signal handlers alone: `run`, `board` and `demo` own them.
- `board_token(config)`: the `[board]` token from its source (ConfigError, exit 78, when its
  source is missing, empty or too short).
- `board_server(config, store, token, listen=...)`: the app for one config over an open store:
  the page in `[board] language` (else `[daemon] language`), deadlines in `[daemon] timezone`,
  staleness after three `poll_interval`s, `working_seconds_left` from `[[calendars]]`.
- `serve_board(config, listen, token, out)`: the `board` command: the local database alone (no
  API keys), until SIGTERM or SIGINT.

Imports uvicorn, the config, the store, the calendars and daemon.web's app, auth, data and
settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TextIO

import structlog
import uvicorn
from starlette.types import ASGIApp

from daemon.calendars import build_calendars
from daemon.config import Config, ConfigError
from daemon.secrets import Secret
from daemon.store import Store
from daemon.web.app import board_app
from daemon.web.auth import BoardAuth
from daemon.web.data import BoardData
from daemon.web.settings import BoardListenError, is_loopback, read_token, split_listen

__all__ = [
    "BoardListenError",
    "BoardServer",
    "board_server",
    "board_token",
    "serve_board",
]

log = structlog.get_logger(__name__)

STOP_GRACE = 3  # seconds for requests in flight at shutdown
START_TIMEOUT = 10.0  # seconds for uvicorn to start serving on the bound socket
HOUSEKEEPING_EVERY = 60.0  # seconds between calls of a server's housekeeping


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the daemon's own stay in place."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise BoardListenError(f"cannot listen on {host}:{port} for the board: {err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        reason = err.strerror or str(err)
        raise BoardListenError(
            f"cannot listen on {host}:{port} for the board ({reason}); free the port or change "
            "[board] listen / --listen"
        ) from err
    return sock


class BoardServer:
    """The board app served on host:port by uvicorn, as a task of the running loop."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        housekeeping: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._housekeeping = housekeeping
        self._keeper: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0), else the requested one."""
        if self._socket is None:
            return self._requested_port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The page's address, e.g. http://127.0.0.1:9465/."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> BoardServer:
        """Bind and start serving; returns self once requests are answered. Raises
        BoardListenError when the address cannot be bound."""
        self._socket = _bind(self.host, self._requested_port)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            proxy_headers=True,  # X-Forwarded-Proto from a proxy on 127.0.0.1: Secure cookies
            timeout_graceful_shutdown=STOP_GRACE,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its exception, if any
                raise BoardListenError(f"the board on {self.url} stopped at start")
            if loop.time() > deadline:
                raise BoardListenError(f"the board on {self.url} did not start")
            await asyncio.sleep(0.01)
        if self._housekeeping is not None:
            self._keeper = asyncio.create_task(self._keep(self._housekeeping))
        log.info("board_listening", url=self.url)
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
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, STOP_GRACE + 2)
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = None


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


def board_server(
    config: Config,
    store: Store,
    token: Secret | None,
    *,
    listen: str | None = None,
    language: str | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> BoardServer:
    """The board of `config` over the open `store` on `listen` (default `[board] listen`),
    not started. Raises ConfigError for a non-loopback address without a token (the config's
    own check covers `[board] listen`; this one covers `board --listen`), ValueError for a
    `listen` that is not HOST:PORT."""
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
    return BoardServer(app, host, port, housekeeping=data.forget_if_idle)


async def serve_board(config: Config, listen: str, token: Secret | None, out: TextIO) -> int:
    """The `board` command: serve the board of `config`'s database on `listen` until SIGTERM
    or SIGINT, printing its address on `out`; returns 0. Raises ConfigError, StoreError or
    BoardListenError."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with Store.open(config.database_path(), mode="annotate") as store:
        server = board_server(config, store, token, listen=listen)
        await server.start()
        mode = "read-only (no [board] token)" if token is None else "token needed to write"
        out.write(f"ozon-sync board: serving {server.url} ({mode}); stop with Ctrl-C\n")
        out.flush()
        try:
            await stop.wait()
        finally:
            await server.stop()
    return 0
