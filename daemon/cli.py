"""The `ozon-sync` command line (CONTRACT section 2).

This is the ONLY module that turns exceptions into exit codes and one-line messages. Commands
build what they need from the config and call the modules below them; they print their own
output on stdout, logs go to stderr.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import structlog
import typer

from daemon import __version__, checks
from daemon import hold as holding
from daemon.calendars import build_calendars
from daemon.config import (
    Config,
    ConfigError,
    ResolvedSecrets,
    Secret,
    load_config,
    resolve_secrets,
)
from daemon.config_checks import zone_problem
from daemon.durations import DurationError, read_duration
from daemon.engine import OnceOutcome, tune_gc, utc_now
from daemon.logs import configure_logging, redact_text, register_secrets
from daemon.ozon.errors import OzonAuthError, OzonError
from daemon.redact import RedactingStream
from daemon.store import Store, StoreError, StoreLockedError
from daemon.views import (
    history_json,
    hold_all_line,
    print_history,
    print_json,
    print_status,
    status_json,
)
from daemon.web.settings import BoardListenError

__all__ = ["EXIT", "app", "main"]

log = structlog.get_logger(__name__)

HISTORY_LIMIT = 1_000_000  # `history --limit` beyond this is a typo (and beyond SQLite's integers)


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
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file [default: $OZON_SYNC_CONFIG, else ./config.toml, else "
            "/etc/ozon-sync/config.toml].",
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
    if config is not None and not config.strip():  # a folder or a missing file: load_config
        raise ConfigError(None, ["--config is empty; give the path of the config file"])
    ctx.obj = State(config_path=None if config is None else Path(config))


def _config(ctx: typer.Context) -> Config:
    """Load the config named on the command line (or the default one) and set up logging."""
    from daemon.config import default_config_path

    state: State = ctx.obj
    path = state.config_path or default_config_path()
    config = load_config(path)
    configure_logging(config.daemon.log_level, config.daemon.log_format)
    return config


# ---------------------------------------------------------------- commands


DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Never cancel anything, whatever the config says."),
]


@app.command()
def run(ctx: typer.Context, dry_run: DryRun = False) -> None:
    """Run the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads the config."""
    from daemon.service import Service

    config = _config(ctx)
    secrets = _secrets(config)
    assert config.path is not None  # noqa: S101 - load_config always sets it
    tune_gc()
    raise typer.Exit(asyncio.run(Service(config.path, config, secrets, dry_run=dry_run).run()))


@app.command()
def once(ctx: typer.Context, dry_run: DryRun = False) -> None:
    """Run exactly one full cycle for every account (sync, decide, alert, cancel if enabled,
    deliver due alerts and a due digest), then exit."""
    from daemon.once import run_once

    config = _config(ctx)
    secrets = _secrets(config)
    with Store.open(config.database_path(), mode="writer") as store:
        tune_gc()
        outcome = asyncio.run(run_once(config, secrets, store, dry_run=dry_run))
    _exit_for_outcome(outcome)


def _exit_for_outcome(outcome: OnceOutcome) -> None:
    """Exit 0 when every account succeeded, else 77 (a key rejected) before 75 (Ozon)."""
    failed = outcome.first_auth_failure()
    if failed is not None:
        raise CommandError(EXIT.AUTH, f'account "{failed.account}": {failed.error}')
    failed = outcome.first_failure()
    if failed is not None:
        raise CommandError(EXIT.UNAVAILABLE, f'account "{failed.account}": {failed.error}')


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
    config = _config(ctx)
    now = utc_now()
    with Store.open(config.database_path(), mode="reader") as store:
        postings = store.postings(now, include_departed=show_all)
        states = store.sync_states()
        stop = store.global_hold(now)
    _, calendars = build_calendars(config.calendars, config.daemon.timezone)
    if as_json:
        print_json(status_json(postings, now, calendars), sys.stdout)
        return
    zone, interval = config.daemon.zone, config.daemon.poll_interval
    print_status(
        postings, states, now, zone, interval, sys.stdout, calendars=calendars, hold_all=stop
    )


@app.command()
def history(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=HISTORY_LIMIT, help="How many entries, newest first."),
    ] = 50,
) -> None:
    """Show the journal, newest first: alert messages sent and cancellation actions.
    Local database only, no secret needed."""
    config = _config(ctx)
    with Store.open(config.database_path(), mode="reader") as store:
        entries = store.history(limit)
    if as_json:
        print_json(history_json(entries), sys.stdout)
        return
    print_history(entries, config.daemon.zone, sys.stdout)


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
    secrets = _secrets(config)
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
        with Store.open(config.database_path(), mode="reader") as store:
            stop = store.global_hold(utc_now())
    except StoreError as err:
        sys.stdout.write(f"# hold --all: unknown, the state database cannot be read ({err})\n")
        return
    if stop is not None:
        sys.stdout.write(f"# {hold_all_line(stop, config.daemon.zone)}\n")


def _secrets(config: Config) -> ResolvedSecrets:
    """Resolve the config's secrets and register them with the log redaction."""
    secrets = resolve_secrets(config)
    register_secrets(secrets.all_values())
    return secrets


@app.command()
def hold(
    ctx: typer.Context,
    posting: Annotated[
        str | None,
        typer.Argument(
            metavar="POSTING",
            help="Posting number, or an order number (12345678-0001): all its cached postings.",
        ),
    ] = None,
    for_: Annotated[
        str | None,
        typer.Option("--for", metavar="DURATION", help='Hold expires after this ("2d").'),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Hold a number no cached posting has (not synced yet)."),
    ] = False,
    everything: Annotated[
        bool,
        typer.Option("--all", help="Emergency stop: no posting of any account is cancelled."),
    ] = False,
) -> None:
    """Hold a posting (or every cached posting of an order): it is never cancelled and gets no
    overdue repeats until released or until the hold expires (default: no expiry). A number
    no cached posting has is refused (exit 2) unless --force. --all: the emergency stop.
    Local database only."""
    if everything == (posting is not None):
        raise CommandError(EXIT.USAGE, "hold: give either a POSTING or --all")
    if everything and force:
        raise CommandError(EXIT.USAGE, "hold: --force goes with a POSTING, not with --all")
    now = utc_now()
    until = None
    if for_ is not None:
        try:
            duration = read_duration(for_, minimum=timedelta(seconds=1))
        except DurationError as err:
            raise typer.BadParameter(str(err), param_hint="--for") from None
        until = now + duration
    config = _config(ctx)
    with Store.open(config.database_path(), mode="annotate") as store:
        if everything:
            store.hold_all(until, now)
            sys.stdout.write(holding.hold_all_text(until, config.daemon.zone))
            return
        assert posting is not None  # noqa: S101 - checked above
        try:
            target = holding.hold(store, posting, until, now, force=force)
        except holding.HoldRefused as err:
            raise CommandError(EXIT.USAGE, f"hold: {err}") from err
    sys.stdout.write(holding.held_text(target, until, config.daemon.zone))


@app.command()
def release(
    ctx: typer.Context,
    posting: Annotated[
        str | None,
        typer.Argument(metavar="POSTING", help="Posting number, or an order number."),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="End the emergency stop (single holds stay).")
    ] = False,
) -> None:
    """Release a held posting (or the held postings of an order), or end the emergency stop
    with --all. Local database only."""
    if everything == (posting is not None):
        raise CommandError(EXIT.USAGE, "release: give either a POSTING or --all")
    config = _config(ctx)
    with Store.open(config.database_path(), mode="annotate") as store:
        if everything:
            sys.stdout.write(holding.release_all_text(store.release_all(utc_now())))
            return
        assert posting is not None  # noqa: S101 - checked above
        try:
            released = holding.release(store, posting)
        except holding.HoldRefused as err:
            raise CommandError(EXIT.USAGE, f"release: {err}") from err
    sys.stdout.write(holding.released_text(posting, released))


@app.command()
def ack(
    ctx: typer.Context,
    posting: Annotated[
        str,
        typer.Argument(
            metavar="POSTING",
            help="Posting number, or an order number (12345678-0001): all its cached postings.",
        ),
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", metavar="NAME", help="Who takes it in hand [default: your login]."),
    ] = None,
) -> None:
    """Record that someone took a posting (or every cached posting of an order) in hand: it
    stops escalation for the posting's current deadline (a moved deadline clears it), and
    `status` and the board show the name. Local database only."""
    try:
        name = holding.ack_name(by if by is not None else _login_name())
    except ValueError as err:
        raise CommandError(EXIT.USAGE, f"ack: --by: {err}") from err
    config = _config(ctx)
    with Store.open(config.database_path(), mode="annotate") as store:
        try:
            target = holding.acknowledge(store, posting, name, utc_now())
        except holding.HoldRefused as err:
            raise CommandError(EXIT.USAGE, f"ack: {err}") from err
    sys.stdout.write(holding.acknowledged_text(target, name, config.daemon.zone))


def _login_name() -> str:
    """The user running the command (for `ack` without --by)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no $USER and no passwd entry (some containers)
        return f"uid {os.getuid()}"


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
    local database alone, no API keys, until Ctrl-C: for setups that run `once` from a timer.
    A non-loopback address needs a [board] token."""
    from daemon.web.server import serve_board
    from daemon.web.settings import DEFAULT_PORT, ListenError, split_listen

    address = listen or None
    if address is not None:
        try:
            split_listen(address)
        except ListenError as err:
            raise typer.BadParameter(str(err), param_hint="--listen") from err
    config = _config(ctx)
    address = address or config.board.listen or f"127.0.0.1:{DEFAULT_PORT}"
    token = _board_token(config)
    raise typer.Exit(asyncio.run(serve_board(config, address, token, sys.stdout)))


def _board_token(config: Config) -> Secret | None:
    """The [board] token from its source (ConfigError: 78), registered with log redaction."""
    from daemon.web.server import board_token

    token = board_token(config)
    if token is not None:
        register_secrets([token.reveal()])
    return token


@app.command()
def demo(
    language: Annotated[
        str, typer.Option("--language", help="Language of the alerts: en | zh | ru.")
    ] = "en",
    timezone: Annotated[
        str, typer.Option("--timezone", help="Time zone for times in the alerts.")
    ] = "Europe/Moscow",
) -> None:
    """Try ozon-sync without a config or an account: runs the daemon against the built-in
    simulated Ozon Seller API and prints the alerts and the status table (under a minute)."""
    from daemon.demo import run_demo

    if language not in {"en", "zh", "ru"}:
        raise typer.BadParameter("use en, zh or ru", param_hint="--language")
    zone = zone_problem(timezone)
    if zone is not None:
        raise typer.BadParameter(zone, param_hint="--timezone")
    configure_logging("warning", "auto")
    raise typer.Exit(run_demo(sys.stdout, language=language, timezone=timezone))


Opt = typer.Option


@app.command()
def sandbox(
    port: Annotated[int, Opt(min=0, max=65535, help="Port on 127.0.0.1 (0: any free).")] = 8765,
    postings: Annotated[int, Opt(min=0, help="How many postings to simulate (bulk).")] = 200,
    scenario: Annotated[str, Opt(help="bulk | demo (12, events in 20 s) | empty.")] = "bulk",
    seed: Annotated[int, Opt(help="Random seed of the bulk scenario.")] = 1,
    rate_limit: Annotated[int, Opt(min=0, help="Requests/s per Client-Id (0: no 429).")] = 50,
    no_events: Annotated[bool, Opt("--no-events", help="No scheduled changes over time.")] = False,
    fail_next: Annotated[int, Opt(min=0, help="Answer the next N requests with 503.")] = 0,
    error_rate: Annotated[float, Opt(min=0, max=1, help="Share of requests answered 500.")] = 0.0,
    drop_rate: Annotated[float, Opt(min=0, max=1, help="Share closed unanswered.")] = 0.0,
    latency: Annotated[str, Opt(help='Delay before every answer ("0.2", "2s").')] = "0s",
    malformed_page: Annotated[int, Opt(min=0, help="Broken JSON on page K of every paging.")] = 0,
    wrap_result: Annotated[bool, Opt("--wrap-result", help='v4 lists as {"result": ...}.')] = False,
    date_skew: Annotated[str, Opt(help='Shift the Date header ("-5m").')] = "0s",
    cancel_outcome: Annotated[str, Opt(help="After a cancel: answer | drop | hang.")] = "answer",
    forbid: Annotated[list[str] | None, Opt(metavar="PATH", help="403 for PATH (repeat).")] = None,
    key_expires_in: Annotated[str, Opt(help='Key expiry after the start ("3d").')] = "180d",
) -> None:
    """Run the simulated Ozon Seller API on 127.0.0.1 until stopped, printing a base_url,
    Client-Id and Api-Key to put in a config."""
    from daemon.sandbox import Knobs, SandboxOptions, run_forever

    configure_logging("info", "auto")
    knobs = Knobs()
    try:
        knobs.update(
            {
                "rate_limit": rate_limit, "fail_next": fail_next, "error_rate": error_rate,
                "drop_rate": drop_rate, "latency": latency, "malformed_page": malformed_page,
                "wrap_result": wrap_result, "date_skew": date_skew,
                "cancel_outcome": cancel_outcome, "forbidden_methods": forbid or [],
                "key_expires_in": key_expires_in,
            }
        )  # fmt: skip
        options = SandboxOptions(scenario=scenario, postings=postings, seed=seed, port=port,
                                 knobs=knobs, events=not no_events)  # fmt: skip
        code = run_forever(options, sys.stdout)
    except ValueError as err:
        raise CommandError(EXIT.USAGE, f"sandbox: {err}") from err
    except OSError as err:
        raise CommandError(EXIT.UNAVAILABLE, f"sandbox: cannot listen on {port}: {err}") from err
    raise typer.Exit(code)


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
