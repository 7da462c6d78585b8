"""`python -m daemon.sandbox`: the sandbox as its own process (e2e tests, benchmarks, users).

    python -m daemon.sandbox --port 0 --postings 100000 --ready-file /tmp/sb.json

prints the config snippet on stdout and, once listening, writes the ready file (JSON with
`base_url`, `client_id`, `api_key`, `pid`). Every knob has an option (`--fail-next 3`,
`--latency 200ms` is written `--latency 0.2`, `--forbid /v2/posting/fbs/cancel`,
`--cancel-apply-delay 30s`, `--change-at 10000001-0001-1=ship@45s`, ...).

This module imports only the standard library and the sandbox's own modules.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.sandbox.app import SandboxOptions
from daemon.sandbox.knobs import CANCEL_OUTCOMES, KNOB_HELP, Knobs, parse_duration
from daemon.sandbox.runner import run_forever
from daemon.sandbox.scenario import SCENARIOS
from daemon.sandbox.tenants import MAX_CLIENTS

__all__ = ["build_parser", "main", "options_from_args"]


def _pair(text: str) -> tuple[str, str]:
    number, sep, value = text.partition("=")
    if not sep or not number or not value:
        raise argparse.ArgumentTypeError(f"expected POSTING=VALUE, got {text!r}")
    return number, value


def _scheduled(text: str) -> dict[str, Any]:
    """`POSTING=CHANGE@WHEN` (WHEN: seconds after the start such as `45s`, or RFC 3339)."""
    number, value = _pair(text)
    change, sep, when = value.partition("@")
    if not sep or not change or not when:
        raise argparse.ArgumentTypeError(f"expected POSTING=CHANGE@WHEN, got {text!r}")
    entry: dict[str, Any] = {"posting_number": number, "change": change}
    if "T" in when or "t" in when:
        entry["at"] = when
    else:
        entry["after"] = when
    return entry


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m daemon.sandbox`."""
    parser = argparse.ArgumentParser(
        prog="python -m daemon.sandbox",
        description="Simulated Ozon Seller API on 127.0.0.1 (runs until SIGINT/SIGTERM).",
    )
    add = parser.add_argument
    add("--scenario", choices=SCENARIOS, default="bulk", help="postings to start with")
    add("--postings", type=int, default=1000, help="number of postings of the bulk scenario")
    add("--port", type=int, default=0, help="port on 127.0.0.1; 0 = any free port")
    add("--seed", type=int, default=1, help="random seed of the bulk scenario")
    add("--client-id", default=SandboxOptions.client_id, help="Client-Id to accept")
    add("--clients", type=int, default=1, metavar="N",
        help="serve N accounts: Client-Id, Client-Id + 1, ... each with its own postings "
        "(seed + i), Api-Key (with -i appended but the first) and rate limit")  # fmt: skip
    add("--api-key", default=SandboxOptions.api_key, help="Api-Key to accept")
    add("--no-events", action="store_true", help="no scheduled changes as time passes")
    add("--ready-file", type=Path, help="write base_url and credentials (JSON) here when ready")
    add("--rate-limit", type=int, default=50, help=KNOB_HELP["rate_limit"])
    add("--error-rate", type=float, default=0.0, help=KNOB_HELP["error_rate"])
    add("--fail-next", type=int, default=0, help=KNOB_HELP["fail_next"])
    add("--latency", type=parse_duration, default=0.0, help=KNOB_HELP["latency"])
    add("--drop-rate", type=float, default=0.0, help=KNOB_HELP["drop_rate"])
    add("--drop-next", type=int, default=0, help=KNOB_HELP["drop_next"])
    add("--malformed-page", type=int, default=0, help=KNOB_HELP["malformed_page"])
    add("--malformed-next", type=int, default=0, help=KNOB_HELP["malformed_next"])
    add("--wrap-result", action="store_true", help=KNOB_HELP["wrap_result"])
    add("--date-skew", type=parse_duration, default=0.0, help=KNOB_HELP["date_skew"])
    add("--cancel-outcome", choices=CANCEL_OUTCOMES, default="answer",
        help=KNOB_HELP["cancel_outcome"])  # fmt: skip
    add("--hang-seconds", type=parse_duration, default=60.0, help=KNOB_HELP["hang_seconds"])
    add("--forbid", action="append", default=[], metavar="PATH",
        help=KNOB_HELP["forbidden_methods"] + " (repeatable)")  # fmt: skip
    add("--cancel-reasons", action="append", type=_pair, default=[], metavar="POSTING=352,400",
        help=KNOB_HELP["cancel_reasons"] + " (repeatable)")  # fmt: skip
    add("--change-on-get", action="append", type=_pair, default=[], metavar="POSTING=ship",
        help=KNOB_HELP["change_on_get"] + " (repeatable)")  # fmt: skip
    add("--cancel-apply-delay", type=parse_duration, default=0.0,
        help=KNOB_HELP["cancel_apply_delay"])  # fmt: skip
    add("--cancel-429-for", type=parse_duration, default=0.0, help=KNOB_HELP["cancel_429_for"])
    add("--change-at", action="append", type=_scheduled, default=[],
        metavar="POSTING=CHANGE@WHEN",
        help=KNOB_HELP["change_at"] + "; WHEN is after the start (45s) or RFC 3339 "
        "(repeatable)")  # fmt: skip
    add("--not-found-on-get", action="append", default=[], metavar="POSTING",
        help=KNOB_HELP["not_found_on_get"] + " (repeatable)")  # fmt: skip
    add("--key-expires-in", type=parse_duration, default=180 * 86_400.0,
        help=KNOB_HELP["key_expires_in"])  # fmt: skip
    add("--rating", action="append", type=_pair, default=[], metavar="NAME=PERCENT",
        help=KNOB_HELP["ratings"] + " (repeatable)")  # fmt: skip
    add("--error-index", type=float, default=None, help=KNOB_HELP["error_index"])
    return parser


def _percent(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"--rating {name}={value}: the value must be a number") from None


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    """Turn parsed arguments into SandboxOptions; ValueError names a bad knob value."""
    if not 1 <= args.clients <= MAX_CLIENTS:
        raise ValueError(f"--clients must be 1..{MAX_CLIENTS}: {args.clients}")
    knobs = Knobs()
    changes: dict[str, Any] = {
        "rate_limit": args.rate_limit,
        "error_rate": args.error_rate,
        "fail_next": args.fail_next,
        "latency": args.latency,
        "drop_rate": args.drop_rate,
        "drop_next": args.drop_next,
        "malformed_page": args.malformed_page,
        "malformed_next": args.malformed_next,
        "wrap_result": args.wrap_result,
        "date_skew": args.date_skew,
        "cancel_outcome": args.cancel_outcome,
        "hang_seconds": args.hang_seconds,
        "forbidden_methods": args.forbid,
        "cancel_reasons": {
            number: [int(r) for r in value.split(",") if r.strip()]
            for number, value in args.cancel_reasons
        },
        "change_on_get": dict(args.change_on_get),
        "key_expires_in": args.key_expires_in,
        "cancel_apply_delay": args.cancel_apply_delay,
        "cancel_429_for": args.cancel_429_for,
        "change_at": args.change_at,
        "not_found_on_get": args.not_found_on_get,
        "ratings": {name: _percent(name, value) for name, value in args.rating},
        "error_index": args.error_index,
    }
    knobs.update(changes)
    return SandboxOptions(
        scenario=args.scenario,
        postings=args.postings,
        seed=args.seed,
        port=args.port,
        client_id=args.client_id,
        api_key=args.api_key,
        knobs=knobs,
        events=not args.no_events,
        clients=args.clients,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox from command-line arguments; returns the exit code (2 = bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    try:
        return run_forever(options, sys.stdout, ready_file=args.ready_file)
    except OSError as err:
        print(f"cannot listen on 127.0.0.1:{args.port}: {err}", file=sys.stderr)
        return 69
