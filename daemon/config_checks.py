"""Config field types with clear errors, and pydantic's errors as dotted-path problems.

The types (`Duration...`, `ClockTime`, `QuietHours`, zone names, URLs, `host:port`, Client-Ids)
check one value each and raise `PydanticCustomError` with a message that names the problem;
`problems(err)` turns a `ValidationError` into one line per bad key, each starting with its
dotted path (`policy.remind_before[1]`). The value of a secret field (an API key, a URL holding a
token, or where either is read from) is never shown in a problem.

Imports pydantic, the standard library and `daemon.durations`; `daemon.config` builds its
models from these types.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, ValidationError
from pydantic_core import PydanticCustomError

from daemon.durations import format_duration, parse_duration

# ---------------------------------------------------------------- field types with clear errors


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "duration", 'must be a duration string such as "90s", "5m", "1h30m" or "2d"'
        )
    parsed = parse_duration(value)
    if parsed is None:
        raise PydanticCustomError(
            "duration",
            '"{value}" is not a duration (use e.g. "90s", "5m", "1h30m", "2d")',
            {"value": value},
        )
    return parsed


def _at_least(minimum: str) -> AfterValidator:
    bound = parse_duration(minimum)
    assert bound is not None  # noqa: S101 - a constant in this module

    def check(value: timedelta) -> timedelta:
        if value < bound:
            raise PydanticCustomError(
                "duration_too_short",
                '"{value}" is below the minimum of "{minimum}"',
                {"value": format_duration(value), "minimum": minimum},
            )
        return value

    return AfterValidator(check)


_serialize_duration = PlainSerializer(format_duration, return_type=str)
Duration = Annotated[timedelta, BeforeValidator(_duration), _serialize_duration]


def DurationAtLeast(minimum: str) -> Any:
    """A duration field that must not be shorter than `minimum`."""
    return Annotated[timedelta, BeforeValidator(_duration), _at_least(minimum), _serialize_duration]


def _zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PydanticCustomError(
            "timezone", "must be an IANA time zone name such as Asia/Shanghai"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            'unknown time zone "{value}" (use an IANA name such as Asia/Shanghai)',
            {"value": value},
        ) from None
    return value


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "clock_time", '"{value}" is not a time of day such as "09:00"', {"value": value}
        )
    return time(int(match[1]), int(match[2]))


ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]


def _quiet_hours(value: Any) -> tuple[time, time]:
    if isinstance(value, tuple):
        return value
    parts = value.split("-") if isinstance(value, str) else []
    matches = [_CLOCK.match(part.strip()) for part in parts]
    if len(parts) != 2 or not all(matches):
        raise PydanticCustomError(
            "quiet_hours", '"{value}" is not a window such as "22:00-08:00"', {"value": value}
        )
    start, end = (_clock_time(part.strip()) for part in parts)
    if start == end:
        raise PydanticCustomError("quiet_hours", '"{value}" is an empty window', {"value": value})
    return start, end


QuietHours = Annotated[
    tuple[time, time],
    BeforeValidator(_quiet_hours),
    PlainSerializer(lambda w: f"{w[0]:%H:%M}-{w[1]:%H:%M}", return_type=str),
]


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise PydanticCustomError("url", '"{value}" is not an http(s) URL', {"value": str(value)})
    return value.rstrip("/")


def _listen(value: Any) -> str:
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PydanticCustomError(
            "listen", '"{value}" is not host:port such as "127.0.0.1:9464"', {"value": value}
        )
    return str(value)


ZoneName = Annotated[str, BeforeValidator(_zone)]
BaseUrl = Annotated[str, BeforeValidator(_base_url)]
ListenAddress = Annotated[str, BeforeValidator(_listen)]


def known(kind: str, allowed: tuple[str, ...]) -> AfterValidator:
    def check(values: list[str]) -> list[str]:
        for item in values:
            if item not in allowed:
                raise PydanticCustomError(
                    "unknown_value",
                    'unknown {kind} "{item}" (known: {known})',
                    {"kind": kind, "item": item, "known": ", ".join(allowed)},
                )
        return values

    return AfterValidator(check)


def field_problems(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in err.errors():
        where = _dotted(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            text = "unknown key"
        elif kind == "missing":
            text = "is required"
        elif kind == "literal_error":
            text = f"{_show(item.get('input'))} is not one of {item['ctx']['expected']}"
        else:
            text = item["msg"]
            text = text.removeprefix("Value error, ")
            if kind in {
                "string_type",
                "int_type",
                "float_type",
                "bool_type",
                "list_type",
                "model_type",
                "dict_type",
                "int_parsing",
                "float_parsing",
                "bool_parsing",
                "greater_than",
                "greater_than_equal",
                "less_than_equal",
                "too_short",
                "string_too_short",
            }:
                text = f"{_show(item.get('input'))}: {text[0].lower()}{text[1:]}"
        problems.append(f"{where}: {text}" if where else text)
    return problems


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or ("-" in part and part.startswith(("function", "nullable"))):
            continue  # pydantic's validator tags, not keys of the file
        else:
            out += f".{part}" if out else part
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    return repr(value)
