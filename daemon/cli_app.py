"""What every `ozon-sync` command shares: the exit codes, the expected-failure exception, the
typer app with its top-level options, loading the config, resolving secrets, and `--shard`.

The commands live in `cli` (the daemon: run, once, check, board; and the entry point that maps
exceptions to exit codes), `cli_local` (status, history, hold, release, ack: the local
databases only) and `cli_tools` (demo, sandbox); `cli` registers them all on `app`.

Imports typer, the config, logs, shards and `merged`; never calls `sys.exit` (only `cli` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from daemon import __version__
from daemon.config import Config, ResolvedSecrets, default_config_path, load_config, resolve_secrets
from daemon.logs import configure_logging, register_secrets
from daemon.merged import Databases
from daemon.shards import Shard, ShardError, database_files, shard_database

__all__ = [
    "EXIT",
    "CommandError",
    "ShardOption",
    "State",
    "app",
    "databases",
    "load",
    "read_shard",
    "secrets_of",
]


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


def load(ctx: typer.Context) -> Config:
    """Load the config named on the command line (or the default one) and set up logging."""
    state: State = ctx.obj
    path = state.config_path or default_config_path()
    config = load_config(path)
    configure_logging(config.daemon.log_level, config.daemon.log_format)
    return config


def secrets_of(config: Config) -> ResolvedSecrets:
    """Resolve the config's secrets and register them with the log redaction."""
    secrets = resolve_secrets(config)
    register_secrets(secrets.all_values())
    return secrets


ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="N/M",
        help="Only the accounts whose Client-Id hashes to shard N of M [default: [daemon] shard].",
    ),
]


def read_shard(text: str | None, command: str) -> Shard | None:
    """The `--shard N/M` of `command` (None when not given); a bad one is a usage error."""
    if text is None:
        return None
    try:
        return Shard.parse(text)
    except ShardError as err:
        raise CommandError(EXIT.USAGE, f"{command}: --shard: {err}") from err


def databases(config: Config, shard: Shard | None) -> Databases:
    """The databases a local command works on: every shard's beside the configured path (or
    that path alone when there is none yet); `shard` narrows them to that shard's one."""
    base = config.base_database_path()
    if shard is not None:
        return Databases((shard_database(base, shard),))
    return Databases.of(database_files(base), config.database_path())
