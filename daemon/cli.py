"""The `ozon-sync` command line (CONTRACT section 2).

This is the ONLY module that turns exceptions into exit codes and one-line messages. Commands
build what they need from the config and call the modules below them; they print their own
output on stdout, logs go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import structlog
import typer

from daemon import __version__
from daemon.checks import DatabaseFolderError, check_offline
from daemon.config import Config, ConfigError, load_config, resolve_secrets
from daemon.logs import configure_logging, redact_text, register_secrets

__all__ = ["EXIT", "app", "main"]

log = structlog.get_logger(__name__)


class EXIT:
    """Exit codes (sysexits), as the contract lists them."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOTIFY_FAILED = 69
    LOCKED = 73
    DATABASE = 74
    UNAVAILABLE = 75
    AUTH = 77
    CONFIG = 78


class CommandError(Exception):
    """An expected failure of a command: `exit_code` and a one-line message for the user."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


app = typer.Typer(
    name="ozon-sync",
    help="Deadline watch for Ozon FBS/rFBS postings: reminders, overdue alerts and safe, "
    "opt-in cancellation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    """What the top-level options decided, handed to every command."""

    config_path: Path | None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ozon-sync {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file [default: $OZON_SYNC_CONFIG, else ./config.toml, else "
            "/etc/ozon-sync/config.toml].",
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Deadline watch for Ozon FBS/rFBS postings."""
    ctx.obj = State(config_path=config)


def _config(ctx: typer.Context) -> Config:
    """Load the config named on the command line (or the default one) and set up logging."""
    from daemon.config import default_config_path

    state: State = ctx.obj
    path = state.config_path or default_config_path()
    config = load_config(path)
    configure_logging(config.daemon.log_level, config.daemon.log_format)
    return config


def _not_implemented(command: str) -> NoReturn:
    raise CommandError(EXIT.INTERNAL, f"`ozon-sync {command}` is not implemented yet")


# ---------------------------------------------------------------- commands


DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Never cancel anything, whatever the config says."),
]


@app.command()
def run(ctx: typer.Context, dry_run: DryRun = False) -> None:
    """Run the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads the config."""
    _config(ctx)
    _not_implemented("run")


@app.command()
def once(ctx: typer.Context, dry_run: DryRun = False) -> None:
    """Run exactly one full cycle for every account (sync, decide, alert, cancel if enabled,
    deliver due alerts and a due digest), then exit."""
    _config(ctx)
    _not_implemented("once")


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every cached posting, not only watched ones.")
    ] = False,
) -> None:
    """Show watched postings from the local state cache, soonest deadline first, and each
    account's last successful sync. No API call, no secret needed."""
    _config(ctx)
    _not_implemented("status")


@app.command()
def history(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="How many entries, newest first.")
    ] = 50,
) -> None:
    """Show the journal, newest first: alert messages sent and cancellation actions.
    Local database only, no secret needed."""
    _config(ctx)
    _not_implemented("history")


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
    config = _config(ctx)
    secrets = resolve_secrets(config)
    register_secrets(secrets.all_values())
    check_offline(config, secrets, out=sys.stdout)
    if notify:
        _not_implemented("check --notify")
    if not offline:
        _not_implemented("check (online)")


@app.command()
def hold(
    ctx: typer.Context,
    posting: Annotated[str, typer.Argument(metavar="POSTING", help="Posting number.")],
    for_: Annotated[
        str | None,
        typer.Option("--for", metavar="DURATION", help='Hold expires after this ("2d").'),
    ] = None,
) -> None:
    """Hold a posting: it is never cancelled and gets no overdue repeats until released or
    until the hold expires (default: no expiry). Local database only."""
    _config(ctx)
    _not_implemented("hold")


@app.command()
def release(
    ctx: typer.Context,
    posting: Annotated[str, typer.Argument(metavar="POSTING", help="Posting number.")],
) -> None:
    """Release a held posting. Local database only."""
    _config(ctx)
    _not_implemented("release")


@app.command()
def demo() -> None:
    """Try ozon-sync without a config or an account: runs the daemon against the built-in
    simulated Ozon Seller API and prints the alerts and the status table (under a minute)."""
    configure_logging("warning", "auto")
    _not_implemented("demo")


@app.command()
def sandbox(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free).")] = 8765,
    postings: Annotated[
        int, typer.Option("--postings", min=0, help="How many postings to simulate.")
    ] = 200,
) -> None:
    """Run the simulated Ozon Seller API on 127.0.0.1 until stopped, printing a base_url,
    Client-Id and Api-Key to put in a config."""
    configure_logging("info", "auto")
    _not_implemented("sandbox")


# ---------------------------------------------------------------- entry point


def _exit_code_for(err: BaseException) -> tuple[int, str] | None:
    """Map an expected exception to (exit code, message); None for a bug."""
    if isinstance(err, CommandError):
        return err.exit_code, str(err)
    if isinstance(err, ConfigError):
        return EXIT.CONFIG, str(err)
    if isinstance(err, DatabaseFolderError):
        return EXIT.DATABASE, str(err)
    for mapper in _MAPPERS:
        mapped = mapper(err)
        if mapped is not None:
            return mapped
    return None


_MAPPERS: list[Callable[[BaseException], tuple[int, str] | None]] = []


def _fail(code: int, message: str) -> NoReturn:
    line = " ".join(redact_text(message).split())
    sys.stderr.flush()
    print(f"ozon-sync: {line}", file=sys.stderr, flush=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `ozon-sync` command and of `python -m daemon`.

    Usage errors exit 2 (typer/click); expected errors exit with their contract code and a
    one-line message as the last line on stderr; anything else is a bug: exit 1.
    """
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
