"""The commands that only read or annotate the local databases: `status`, `history`, `hold`,
`release`, `ack`. They never resolve a secret, and with shards they work on every shard's
database at once (daemon.merged); `status` and `history` take `--shard N/M` to narrow.

Plain functions with typer parameters; `daemon.cli` registers them on the app. Imports the
shared CLI pieces, `hold`, `merged`, `views`, calendars and durations.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import timedelta
from typing import Annotated

import typer

from daemon import hold as holding
from daemon.calendars import build_calendars
from daemon.cli_app import EXIT, CommandError, ShardOption, databases, load, read_shard
from daemon.durations import DurationError, read_duration
from daemon.engine import utc_now
from daemon.views import history_json, print_history, print_json, print_status, status_json

__all__ = ["ack", "history", "hold", "release", "status"]

HISTORY_LIMIT = 1_000_000  # `history --limit` beyond this is a typo (and beyond SQLite's integers)


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every cached posting, not only watched ones.")
    ] = False,
    shard: ShardOption = None,
) -> None:
    """Show watched postings from the local state cache, soonest deadline first, and each
    account's last successful sync (every shard's database, merged). No API call, no secret
    needed."""
    narrow = read_shard(shard, "status")
    config = load(ctx)
    now = utc_now()
    view = databases(config, narrow).status(now, include_departed=show_all)
    _, calendars = build_calendars(config.calendars, config.daemon.timezone)
    if as_json:
        print_json(status_json(view.postings, now, calendars, view.ratings), sys.stdout)
        return
    zone, interval = config.daemon.zone, config.daemon.poll_interval
    print_status(
        view.postings, view.states, now, zone, interval, sys.stdout, calendars=calendars,
        hold_all=view.hold_all,
    )  # fmt: skip


def history(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=HISTORY_LIMIT, help="How many entries, newest first."),
    ] = 50,
    shard: ShardOption = None,
) -> None:
    """Show the journal, newest first: alert messages sent and cancellation actions (every
    shard's database, merged). Local database only, no secret needed."""
    narrow = read_shard(shard, "history")
    config = load(ctx)
    entries = databases(config, narrow).history(limit)
    if as_json:
        print_json(history_json(entries), sys.stdout)
        return
    print_history(entries, config.daemon.zone, sys.stdout)


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
    config = load(ctx)
    stores = databases(config, None)
    if everything:
        stores.hold_all(until, now)
        sys.stdout.write(holding.hold_all_text(until, config.daemon.zone))
        return
    assert posting is not None  # noqa: S101 - checked above
    try:
        target = stores.hold(posting, until, now, force=force)
    except holding.HoldRefused as err:
        raise CommandError(EXIT.USAGE, f"hold: {err}") from err
    sys.stdout.write(holding.held_text(target, until, config.daemon.zone))


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
    config = load(ctx)
    stores = databases(config, None)
    if everything:
        sys.stdout.write(holding.release_all_text(stores.release_all(utc_now())))
        return
    assert posting is not None  # noqa: S101 - checked above
    sys.stdout.write(holding.released_text(posting, stores.release(posting)))


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
    config = load(ctx)
    try:
        target = databases(config, None).acknowledge(posting, name, utc_now())
    except holding.HoldRefused as err:
        raise CommandError(EXIT.USAGE, f"ack: {err}") from err
    sys.stdout.write(holding.acknowledged_text(target, name, config.daemon.zone))


def _login_name() -> str:
    """The user running the command (for `ack` without --by)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no $USER and no passwd entry (some containers)
        return f"uid {os.getuid()}"
