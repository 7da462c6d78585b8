"""The `ozon-sync` command line (CONTRACT section 2).

This is the ONLY module that turns exceptions into exit codes and one-line messages. Commands
build what they need from the config and call the modules below them; they print their own
output on stdout, logs go to stderr. Here: the daemon's commands (`run`, `once`, `check`,
`board`) and the entry point; the local-database commands are in `cli_local`, `demo` and
`sandbox` in `cli_tools`, the shared pieces (exit codes, the app, config loading) in `cli_app`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, NoReturn

import structlog
import typer

from daemon import checks, cli_local, cli_tools
from daemon.cli_app import (
    EXIT,
    CommandError,
    ShardOption,
    app,
    databases,
    load,
    read_shard,
    secrets_of,
)
from daemon.config import Config, ConfigError, Secret
from daemon.engine import OnceOutcome, tune_gc, utc_now
from daemon.logs import configure_logging, redact_text, register_secrets
from daemon.merged import Databases
from daemon.ozon.errors import OzonAuthError, OzonError
from daemon.redact import RedactingStream
from daemon.shards import Shard, database_files
from daemon.store import Store, StoreError, StoreLockedError
from daemon.views import hold_all_line
from daemon.web.settings import BoardListenError

__all__ = ["EXIT", "app", "main"]

log = structlog.get_logger(__name__)


# ---------------------------------------------------------------- commands


DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Never cancel anything, whatever the config says."),
]


@app.command()
def run(ctx: typer.Context, dry_run: DryRun = False, shard: ShardOption = None) -> None:
    """Run the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads the config."""
    from daemon.service import Service

    narrow = read_shard(shard, "run")
    config = _shard_view(load(ctx), narrow)
    secrets = secrets_of(config)
    assert config.path is not None  # noqa: S101 - load_config always sets it
    tune_gc()
    service = Service(config.path, config, secrets, dry_run=dry_run, shard=narrow)
    raise typer.Exit(asyncio.run(service.run()))


@app.command()
def once(ctx: typer.Context, dry_run: DryRun = False, shard: ShardOption = None) -> None:
    """Run exactly one full cycle for every account (sync, decide, alert, cancel if enabled,
    deliver due alerts and a due digest), then exit."""
    from daemon.once import run_once

    narrow = read_shard(shard, "once")
    config = _shard_view(load(ctx), narrow)
    secrets = secrets_of(config)
    with Store.open(config.database_path(), mode="writer") as store:
        tune_gc()
        outcome = asyncio.run(run_once(config, secrets, store, dry_run=dry_run))
    _exit_for_outcome(outcome)


def _shard_view(config: Config, shard: Shard | None) -> Config:
    """The config as this process's shard runs it (daemon.shards), logged when sharded. A
    shard database that does not exist yet gets the other databases' holds first."""
    view = config.shard_view(shard)
    target = view.database_path()
    others = [p for p in database_files(config.base_database_path()) if p != target]
    if others and not target.exists():
        carried = Databases(tuple(others)).carry_holds(target, utc_now())
        log.info("holds_carried", database=str(target), holds=carried, sources=len(others))
    if view.daemon.shard.sharded:
        log.info(
            "shard_selected", shard=str(view.daemon.shard), accounts=len(view.accounts),
            of=len(config.accounts), database=str(view.database_path()),
        )  # fmt: skip
        if not view.accounts:
            log.warning("shard_empty", shard=str(view.daemon.shard),
                        reason="no account's Client-Id hashes to this shard")  # fmt: skip
    return view


def _exit_for_outcome(outcome: OnceOutcome) -> None:
    """Exit 0 when every account succeeded, else 77 (a key rejected) before 75 (Ozon)."""
    failed = outcome.first_auth_failure()
    if failed is not None:
        raise CommandError(EXIT.AUTH, f'account "{failed.account}": {failed.error}')
    failed = outcome.first_failure()
    if failed is not None:
        raise CommandError(EXIT.UNAVAILABLE, f'account "{failed.account}": {failed.error}')


@app.command()
def check(
    ctx: typer.Context,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not call Ozon; only validate locally.")
    ] = False,
    notify: Annotated[
        bool, typer.Option("--notify", help="Send a test message to every notification route.")
    ] = False,
) -> None:
    """Validate the config and print it with secrets masked; unless --offline, make one cheap
    read call per account to prove its API key works; with --notify, test every route."""
    config = load(ctx)
    secrets = secrets_of(config)
    _board_token(config)  # `run` would refuse a missing or short one: so does `check`
    checks.check_offline(config, secrets, out=sys.stdout)
    _print_hold_all(config)
    failure: CommandError | None = None
    if not offline:
        results = asyncio.run(checks.check_accounts(config, secrets, utc_now()))
        for result in results:
            sys.stdout.write(result.line() + "\n")
        failed = checks.first_failure(results)
        if failed is not None:
            failure = CommandError(failed.exit_code, failed.line())
    if notify:
        routes = asyncio.run(checks.check_routes(config, secrets))
        for route in routes:
            sys.stdout.write(route.line() + "\n")
        if not routes:
            sys.stdout.write("no [[notify]] routes configured: alerts only go to the log\n")
        broken = [route for route in routes if not route.ok]
        if broken and failure is None:
            failure = CommandError(
                EXIT.NOTIFY_FAILED,
                f"{len(broken)} of {len(routes)} notification routes failed the test message: "
                + ", ".join(route.line() for route in broken),
            )
    if failure is not None:
        raise failure


def _print_hold_all(config: Config) -> None:
    """`check`'s line about the emergency stop (`hold --all`), when it is in force."""
    try:
        stop = databases(config, None).global_hold(utc_now())
    except StoreError as err:
        sys.stdout.write(f"# hold --all: unknown, the state database cannot be read ({err})\n")
        return
    if stop is not None:
        sys.stdout.write(f"# {hold_all_line(stop, config.daemon.zone)}\n")


@app.command()
def board(
    ctx: typer.Context,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="HOST:PORT",
            help="Address to serve on [default: [board] listen, else 127.0.0.1:9465].",
        ),
    ] = None,
) -> None:
    """Serve the packer's board (postings by urgency, acknowledge / hold / release) from the
    local database alone (every shard's, merged), no API keys, until Ctrl-C: for setups that
    run `once` from a timer. A non-loopback address needs a [board] token."""
    from daemon.web.server import serve_board
    from daemon.web.settings import DEFAULT_PORT, ListenError, split_listen

    address = listen or None
    if address is not None:
        try:
            split_listen(address)
        except ListenError as err:
            raise typer.BadParameter(str(err), param_hint="--listen") from err
    config = load(ctx)
    address = address or config.board.listen or f"127.0.0.1:{DEFAULT_PORT}"
    token = _board_token(config)
    every = databases(config, None)  # every shard's database, merged, as `status` reads them
    tune_gc()  # the board keeps thousands of decoded postings: see daemon.engine.tune_gc
    raise typer.Exit(asyncio.run(serve_board(config, address, token, sys.stdout, every)))


def _board_token(config: Config) -> Secret | None:
    """The [board] token from its source (ConfigError: 78), registered with log redaction."""
    from daemon.web.server import board_token

    token = board_token(config)
    if token is not None:
        register_secrets([token.reveal()])
    return token


# The local-database commands and the tools, in the order `--help` lists them.
for _command in (
    cli_local.status, cli_local.history, cli_local.hold, cli_local.release, cli_local.ack,
    cli_tools.demo, cli_tools.sandbox,
):  # fmt: skip
    app.command()(_command)


# ---------------------------------------------------------------- entry point


def _exit_code_for(err: BaseException) -> tuple[int, str] | None:
    """Map an expected exception to (exit code, message); None for a bug."""
    if isinstance(err, CommandError):
        return err.exit_code, str(err)
    if isinstance(err, ConfigError):
        return EXIT.CONFIG, str(err)
    if isinstance(err, checks.DatabaseFolderError):
        return EXIT.DATABASE, str(err)
    if isinstance(err, StoreLockedError):
        return EXIT.LOCKED, str(err)
    if isinstance(err, StoreError):
        return EXIT.DATABASE, str(err)
    if isinstance(err, OzonAuthError):
        return EXIT.AUTH, str(err)
    if isinstance(err, OzonError):
        return EXIT.UNAVAILABLE, str(err)
    if isinstance(err, BoardListenError):
        return EXIT.UNAVAILABLE, str(err)
    return None


def _fail(code: int, message: str) -> NoReturn:
    line = " ".join(redact_text(message).split())
    sys.stderr.flush()
    print(f"ozon-sync: {line}", file=sys.stderr, flush=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `ozon-sync` command and of `python -m daemon`.

    Usage errors exit 2 (typer/click); expected errors exit with their contract code and a
    one-line message as the last line on stderr; anything else is a bug: exit 1. stdout and
    stderr are redacted alike: every registered secret is masked in whatever is written.
    """
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        _main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def _main(argv: list[str] | None) -> None:
    configure_logging("info", "auto")
    try:
        app(args=argv, prog_name="ozon-sync")
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except Exception as err:
        mapped = _exit_code_for(err)
        if mapped is None:
            log.exception("internal_error", error=type(err).__name__)
            _fail(EXIT.INTERNAL, f"internal error ({type(err).__name__}); this is a bug")
        _fail(*mapped)
