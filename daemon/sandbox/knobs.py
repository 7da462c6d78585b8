"""Fault and behaviour knobs of the sandbox, changeable while it runs.

Set them at start (`SandboxOptions(knobs=Knobs(...))`, command-line options), from Python
(`sandbox.knobs.latency = 0.2` or `sandbox.set_knobs(fail_next=3)`), or over HTTP on the
sandbox's own port (`POST /__sandbox__/knobs` with a JSON object of the fields to change;
`GET /__sandbox__/knobs` shows them). `KNOB_HELP` documents each field for command lines.

This module imports only the standard library and the sandbox's clock.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from daemon.sandbox.clock import format_us, parse_rfc3339

__all__ = ["ANY_POSTING", "CANCEL_OUTCOMES", "CHANGES", "KNOB_HELP", "Knobs", "parse_duration"]

CANCEL_OUTCOMES = ("answer", "drop", "hang")
# The named changes a knob may apply to a posting (see lifecycle and methods.apply_change).
CHANGES = ("ship", "pack", "in_carriage", "hand_over", "cancel_by_buyer")
ANY_POSTING = "*"  # in not_found_on_get: the next get of any posting

KNOB_HELP: dict[str, str] = {
    "rate_limit": "requests per second per Client-Id before 429 answers (sliding 1 s window); "
    "0 = unlimited",
    "error_rate": "share of API requests (0..1) answered 500 Internal error",
    "fail_next": "answer the next N API requests with 503",
    "latency": "seconds added before every API answer",
    "drop_rate": "share of API requests (0..1) whose connection is closed without an answer",
    "drop_next": "close the connection of the next N API requests without answering",
    "malformed_page": "answer page K (1 = first) of every list paging with broken JSON; 0 = off",
    "malformed_next": "answer the next N API requests with broken JSON",
    "wrap_result": 'wrap the v4 list answers as {"result": {...}} (seen live in 2026)',
    "date_skew": "seconds added to the Date header (negative = behind)",
    "cancel_outcome": "after taking a cancel: answer, drop (close the connection) or hang",
    "hang_seconds": "how long a hanging cancel sleeps before answering",
    "cancel_apply_delay": "seconds between taking a cancel and applying it: the posting stays "
    "as it was that long, then is cancelled by the seller (0 = at once); with every "
    "cancel_outcome",
    "cancel_429_for": "answer 429 to every cancel request for this many seconds of sandbox "
    "time from when it is set (nothing is applied); counts down to 0",
    "change_on_get": "posting number -> ship | pack | in_carriage | hand_over | cancel_by_buyer, "
    "applied once just before the next /v3/posting/fbs/get of that posting",
    "change_at": "changes at a chosen moment: a list of {posting_number, change (ship | "
    "pack | in_carriage | hand_over | cancel_by_buyer), at (RFC 3339) or after (seconds from when "
    "the knob is set)}; each applies once, at its moment, and leaves the list",
    "not_found_on_get": "posting numbers whose next /v3/posting/fbs/get answers 404 once "
    "(the posting is untouched); * = the next get of any posting",
    "cancel_answer_next": "answer the next N applied cancels normally, then cancel_outcome",
    "cancel_reasons": "posting number -> allowed cancel reason ids (overrides the scenario)",
    "forbidden_methods": "API paths answered 403 (a key without the role for that method), "
    "e.g. /v1/rating/summary and /v1/rating/index/fbs/info",
    "ratings": "rating name -> current value in percent for /v1/rating/summary "
    "(rating_order_cancellation, rating_shipment_delay, rating_on_time); the status follows "
    "the sandbox's thresholds; unset ones are computed from the postings",
    "error_index": "the index /v1/rating/index/fbs/info sends, as sent (e.g. 0.12); "
    "null = computed from the postings (a fraction)",
    "key_expires_in": "when the API key expires, counted from the sandbox start "
    "(/v1/roles expires_at); e.g. 3d for a key about to expire",
    "echo_api_key": "error answers echo the Api-Key they received in their message (as a "
    "careless gateway might), to prove the daemon redacts it",
    "inject_postings": "JSON objects added as they are to the first page of every "
    "unfulfilled list (hostile or duplicate postings; no filter applies to them)",
}


@dataclass
class Knobs:
    """Every knob, with its default (a well-behaved Ozon). See `KNOB_HELP` for each field."""

    rate_limit: int = 50
    error_rate: float = 0.0
    fail_next: int = 0
    latency: float = 0.0
    drop_rate: float = 0.0
    drop_next: int = 0
    malformed_page: int = 0
    malformed_next: int = 0
    wrap_result: bool = False
    date_skew: float = 0.0
    cancel_outcome: str = "answer"
    hang_seconds: float = 60.0
    cancel_apply_delay: float = 0.0
    cancel_429_for: float = 0.0
    cancel_answer_next: int = 0
    change_on_get: dict[str, str] = field(default_factory=dict)
    change_at: list[dict[str, Any]] = field(default_factory=list)
    not_found_on_get: list[str] = field(default_factory=list)
    cancel_reasons: dict[str, list[int]] = field(default_factory=dict)
    forbidden_methods: list[str] = field(default_factory=list)
    key_expires_in: float = 180 * 86_400.0
    echo_api_key: bool = False
    inject_postings: list[Any] = field(default_factory=list)
    ratings: dict[str, float] = field(default_factory=dict)
    error_index: float | None = None

    def __post_init__(self) -> None:
        """Values given to the constructor are checked and converted as `update` does them
        (durations as text too: `Knobs(key_expires_in="3d")`); ValueError names a bad one."""
        for knob in fields(self):
            setattr(self, knob.name, _check(knob.name, getattr(self, knob.name)))

    def as_dict(self) -> dict[str, Any]:
        """Return the knobs as a JSON-able dict."""
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes` (field name -> new value), checking names, types and ranges first.

        Durations may be given as text (`"90s"`, `"3d"`). Nothing changes when any value is bad:
        raises ValueError naming the offending knob.
        """
        checked = {name: _check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)


_TYPES = {f.name: f.type for f in fields(Knobs)}
_SHARES = ("error_rate", "drop_rate")
_COUNTS = (
    "rate_limit", "fail_next", "drop_next", "malformed_page", "malformed_next",
    "cancel_answer_next",
)  # fmt: skip
_SECONDS = (
    "latency",
    "date_skew",
    "hang_seconds",
    "key_expires_in",
    "cancel_apply_delay",
    "cancel_429_for",
)


def _check(name: str, value: Any) -> Any:
    if name not in _TYPES:
        raise ValueError(f"unknown knob {name!r}; knobs are: {', '.join(_TYPES)}")
    if name in _SHARES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"knob {name} must be a number from 0 to 1")
        return float(value)
    if name in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"knob {name} must be a whole number >= 0")
        return value
    if name in _SECONDS:
        try:
            seconds = parse_duration(value) if isinstance(value, str) else value
        except ValueError as err:
            raise ValueError(f"knob {name}: {err}") from None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError(f"knob {name} must be a number of seconds")
        if seconds < 0 and name != "date_skew":
            raise ValueError(f"knob {name} cannot be negative")
        return float(seconds)
    if name in ("wrap_result", "echo_api_key"):
        if not isinstance(value, bool):
            raise ValueError(f"knob {name} must be true or false")
        return value
    if name == "inject_postings":
        if not isinstance(value, list | tuple):
            raise ValueError("knob inject_postings must be a list of JSON values")
        return copy.deepcopy(list(value))
    if name == "cancel_outcome":
        if value not in CANCEL_OUTCOMES:
            raise ValueError(f"knob cancel_outcome must be one of {', '.join(CANCEL_OUTCOMES)}")
        return value
    if name == "change_on_get":
        if not isinstance(value, dict) or any(
            not isinstance(k, str) or v not in CHANGES for k, v in value.items()
        ):
            raise ValueError(f"knob change_on_get maps posting numbers to {', '.join(CHANGES)}")
        return dict(value)
    if name == "change_at":
        if not isinstance(value, list | tuple):
            raise ValueError("knob change_at must be a list of {posting_number, change, at|after}")
        return [_scheduled_change(entry) for entry in value]
    if name == "not_found_on_get":
        if not isinstance(value, list | tuple) or any(
            not isinstance(p, str) or not p for p in value
        ):
            raise ValueError("knob not_found_on_get must be a list of posting numbers (or *)")
        return list(value)
    if name == "cancel_reasons":
        if not isinstance(value, dict) or any(
            not isinstance(k, str)
            or not isinstance(v, list | tuple)
            or any(isinstance(i, bool) or not isinstance(i, int) for i in v)
            for k, v in value.items()
        ):
            raise ValueError("knob cancel_reasons maps posting numbers to lists of reason ids")
        return {k: list(v) for k, v in value.items()}
    if name == "ratings":
        if not isinstance(value, dict) or any(
            not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int | float)
            for k, v in value.items()
        ):
            raise ValueError("knob ratings maps rating names to values in percent")
        return {k: float(v) for k, v in value.items()}
    if name == "error_index":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("knob error_index must be a number >= 0 or null")
        return float(value)
    if not isinstance(value, list | tuple) or any(not isinstance(p, str) for p in value):
        raise ValueError("knob forbidden_methods must be a list of API paths")
    return list(value)


def _scheduled_change(entry: Any) -> dict[str, Any]:
    """Check one `change_at` entry; return it with `at` as canonical RFC 3339 text or `after`
    as seconds (the app turns `after` into `at` when the knob is set)."""
    if not isinstance(entry, dict):
        raise ValueError("knob change_at: each entry is an object {posting_number, change, at}")
    unknown = set(entry) - {"posting_number", "change", "at", "after"}
    if unknown:
        raise ValueError(f"knob change_at: unknown field(s) {', '.join(sorted(unknown))}")
    number, change = entry.get("posting_number"), entry.get("change")
    if not isinstance(number, str) or not number:
        raise ValueError("knob change_at: posting_number must be a posting number")
    if change not in CHANGES:
        raise ValueError(f"knob change_at: change must be one of {', '.join(CHANGES)}")
    if ("at" in entry) == ("after" in entry):
        raise ValueError("knob change_at: give exactly one of at (RFC 3339) and after (seconds)")
    if "at" in entry:
        try:
            at = format_us(parse_rfc3339(entry["at"]))
        except ValueError as err:
            raise ValueError(f"knob change_at: {err}") from None
        return {"posting_number": number, "change": change, "at": at}
    after = entry["after"]
    try:
        seconds = parse_duration(after) if isinstance(after, str) else after
    except ValueError as err:
        raise ValueError(f"knob change_at: {err}") from None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("knob change_at: after must be a number of seconds >= 0")
    return {"posting_number": number, "change": change, "after": float(seconds)}


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> float:
    """Parse `"90s"`, `"5m"`, `"1h30m"`, `"3d"` or a plain number of seconds into seconds.

    A leading `-` makes it negative. Raises ValueError for anything else.
    """
    raw = text.strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    raw = raw.lstrip("+-")
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value):
            raise ValueError(f"not a duration: {text!r}")
        return sign * value
    parts = _DURATION.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 4h, 2d or 1h30m)")
    return sign * sum(float(n) * _UNIT[u] for n, u in parts)
