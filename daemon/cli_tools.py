"""The commands that need no config: `demo` and `sandbox` (the simulated Ozon Seller API).

Plain functions with typer parameters; `daemon.cli` registers them on the app. Imports the
shared CLI pieces, logs and config checks; the demo and the sandbox are imported when run.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from daemon.cli_app import EXIT, CommandError
from daemon.config_checks import zone_problem
from daemon.logs import configure_logging

__all__ = ["demo", "sandbox"]

Opt = typer.Option
CLIENTS_HELP = "Accounts (Client-Ids) served, each with its own postings, key and rate limit."


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


def sandbox(
    port: Annotated[int, Opt(min=0, max=65535, help="Port on 127.0.0.1 (0: any free).")] = 8765,
    postings: Annotated[int, Opt(min=0, help="How many postings to simulate (bulk).")] = 200,
    clients: Annotated[int, Opt(min=1, max=10_000, help=CLIENTS_HELP)] = 1,
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
    Client-Id and Api-Key (one of each per --clients) to put in a config."""
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
                                 knobs=knobs, events=not no_events, clients=clients)  # fmt: skip
        code = run_forever(options, sys.stdout)
    except ValueError as err:
        raise CommandError(EXIT.USAGE, f"sandbox: {err}") from err
    except OSError as err:
        raise CommandError(EXIT.UNAVAILABLE, f"sandbox: cannot listen on {port}: {err}") from err
    raise typer.Exit(code)
