"""Config field types with clear errors, and pydantic's errors as dotted-path problems.

The types (`DurationAtLeast`, `ClockTime`, `QuietHours`, `ZoneName`, `BaseUrl`, `ListenAddress`,
`ClientId`, `DatabasePath`, `EnvName`, `SourceName`, `OzonId`) check one value each and raise
`PydanticCustomError` with a message that names the problem; `field_problems(err)` turns a
`ValidationError` into one line per bad key, each starting with its dotted path
(`policy.remind_before[1]`). The value of a secret key (an API key, a URL holding a token, or where
either is read from) is never shown in a problem. `url_problem` and `zone_problem` judge a resolved
URL and a zone name; `shared_client_id_problems` checks that two `[[accounts]]` share a Client-Id
only to split one shop by warehouse.

Imports pydantic, the standard library and `daemon.durations`; `daemon.config` builds its
models from these types.
"""

from __future__ import annotations

import json
import re
from datetime import time, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, ValidationError
from pydantic_core import PydanticCustomError

from daemon.durations import (
    MAX_DURATION,
    DurationError,
    format_duration,
    parse_duration,
    read_duration,
)

# ---------------------------------------------------------------- field types with clear errors


def _duration(minimum: timedelta, maximum: timedelta) -> BeforeValidator:
    def check(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError(
                "duration", 'must be a duration string such as "90s", "5m", "1h30m" or "2d"'
            )
        try:
            return read_duration(value, minimum=minimum, maximum=maximum)
        except DurationError as err:
            raise PydanticCustomError("duration", "{problem}", {"problem": str(err)}) from None

    return BeforeValidator(check)


_serialize_duration = PlainSerializer(format_duration, return_type=str)


def DurationAtLeast(minimum: str, maximum: timedelta = MAX_DURATION) -> Any:
    """A duration field of at least `minimum` and at most `maximum` (one year and a day unless
    given): longer values are refused, so later date arithmetic cannot overflow."""
    bound = parse_duration(minimum)
    assert bound is not None  # noqa: S101 - a constant of the config module
    return Annotated[timedelta, _duration(bound, maximum), _serialize_duration]


def zone_problem(name: str) -> str | None:
    """What makes `name` no IANA time zone (None when it is one): "America" is a folder of
    zones, "zone.tab" a data file, "Mars/Olympus" nothing at all."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {show(name)} (use an IANA name such as Asia/Shanghai)"
    return None


def _zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PydanticCustomError(
            "timezone", "must be an IANA time zone name such as Asia/Shanghai"
        )
    problem = zone_problem(value)
    if problem is not None:
        raise PydanticCustomError("timezone", "{problem}", {"problem": problem})
    return value


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "clock_time", '{value} is not a time of day such as "09:00"', {"value": show(value)}
        )
    return time(int(match[1]), int(match[2]))


ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]


QUIET_CALENDAR_PREFIX = "calendar:"  # `quiet_hours = "calendar:NAME"` on a route


def quiet_calendar_name(value: object) -> str | None:
    """The calendar name of a route's `quiet_hours = "calendar:NAME"`, else None."""
    if isinstance(value, str) and value.startswith(QUIET_CALENDAR_PREFIX):
        return value[len(QUIET_CALENDAR_PREFIX) :].strip()
    return None


def _quiet_hours(value: Any) -> tuple[time, time] | str:
    if isinstance(value, tuple):
        return value
    if quiet_calendar_name(value):  # "calendar:NAME": the name is checked by calendar_problems
        return str(value)
    parts = value.split("-") if isinstance(value, str) else []
    matches = [_CLOCK.match(part.strip()) for part in parts]
    if len(parts) != 2 or not all(matches):
        raise PydanticCustomError(
            "quiet_hours",
            '{value} is not a window such as "22:00-08:00" or "calendar:NAME"',
            {"value": show(value)},
        )
    start, end = (_clock_time(part.strip()) for part in parts)
    if start == end:
        raise PydanticCustomError(
            "quiet_hours", "{value} is an empty window", {"value": show(value)}
        )
    return start, end


QuietHours = Annotated[
    tuple[time, time] | str,
    BeforeValidator(_quiet_hours),
    PlainSerializer(lambda w: w if isinstance(w, str) else f"{w[0]:%H:%M}-{w[1]:%H:%M}", str),
]


def url_problem(url: str, *, http: bool = False) -> str | None:
    """What makes `url` unusable, None when nothing does: whitespace or control characters in
    it, no scheme://, brackets that do not close; with `http`, also a scheme other than
    http(s), no host or a port that is not a number. (Notification URLs are Apprise's to judge
    beyond that: `tgram://123:token/42` has no port.) The text never quotes the URL, nor any
    part of it: it may be a secret."""
    if any(char.isspace() or not char.isprintable() for char in url):
        return "has whitespace or control characters in it"
    if "://" not in url:
        return "is not a URL (scheme://...)"
    try:
        parts = urlsplit(url)
        if http:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL (its host or port cannot be read)"
    if http and (parts.scheme not in {"http", "https"} or not parts.hostname):
        return "is not an http(s) URL with a host"
    return None


def _base_url(value: Any) -> str:
    problem = url_problem(value, http=True) if isinstance(value, str) else "is not a string"
    if problem is not None:
        raise PydanticCustomError(
            "url", "{value} {problem}", {"value": show(value), "problem": problem}
        )
    return str(value).rstrip("/")


_PORT = re.compile(r"^[0-9]{1,5}$")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def listen_host(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 9464) from "127.0.0.1:9464", ("::1", 9464) from "[::1]:9464".

    Raises ValueError (a one-line problem) unless the text is host:port with an IP address or a
    host name and a port from 1 to 65535.
    """
    host, _, port = listen.rpartition(":")
    if not host or not _PORT.match(port) or not 0 < int(port) < 65536:
        raise ValueError(f'{show(listen)} is not host:port such as "127.0.0.1:9464"')
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip_address(bare)
    except ValueError:
        if not _HOST_NAME.match(bare):
            raise ValueError(
                f"{show(listen)}: {show(bare)} is neither an IP address nor a host name"
            ) from None
    return bare, int(port)


def _listen(value: Any) -> str:
    try:
        listen_host(value if isinstance(value, str) else "")
    except ValueError as err:
        message = str(err) if isinstance(value, str) else "must be host:port"
        raise PydanticCustomError("listen", "{problem}", {"problem": message}) from None
    return str(value)


_CLIENT_ID = re.compile(r"^[!-~]{1,64}$")  # visible ASCII: what an HTTP header can carry


def _client_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _CLIENT_ID.match(value):
        raise PydanticCustomError(
            "client_id",
            "{value} is not a Client-Id: use the number shown with the API key in the seller "
            "account (visible ASCII characters only, no spaces)",
            {"value": show(value)},
        )
    return value


def _database(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise PydanticCustomError("database", "must be a file path (not empty, no NUL characters)")
    try:
        Path(value).expanduser()
    except RuntimeError:  # "~nobody/x": no such user
        raise PydanticCustomError(
            "database", "{value}: its ~user has no home folder", {"value": show(value)}
        ) from None
    return value


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _env_name(value: Any) -> Any:
    if isinstance(value, str) and not _ENV_NAME.match(value):
        raise PydanticCustomError(
            "env_name",
            "is not the name of an environment variable (letters, digits and _); name the "
            "variable that holds the secret, not the secret itself",
        )
    return value


def _source_name(value: Any) -> Any:
    if isinstance(value, str) and (not value.strip() or "\x00" in value):
        raise PydanticCustomError("source", "must be a file or credential name (no NUL)")
    return value


INT64_MAX = 2**63 - 1
OzonId = Annotated[int, Field(gt=0, le=INT64_MAX)]
"""An id sent to Ozon (a warehouse, a cancel reason): a positive int64, as its API takes."""
ZoneName = Annotated[str, BeforeValidator(_zone)]
BaseUrl = Annotated[str, BeforeValidator(_base_url)]
ListenAddress = Annotated[str, BeforeValidator(_listen)]
ClientId = Annotated[str, BeforeValidator(_client_id)]
DatabasePath = Annotated[str, BeforeValidator(_database)]
EnvName = Annotated[str, AfterValidator(_env_name)]
"""The name of an environment variable holding a secret (never shown in a problem)."""
SourceName = Annotated[str, AfterValidator(_source_name)]
"""A file path or systemd credential name holding a secret (never shown in a problem)."""


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


SECRET_KEYS = frozenset(
    f"{prefix}{suffix}"
    for prefix in ("api_key", "url", "heartbeat_url")
    for suffix in ("", "_env", "_file", "_credential")
)
"""Keys whose value is a secret or says where one is: their value is never shown in a problem
(a key pasted into `api_key_env` is still the key)."""

_SHOWN_INPUT = {
    "string_type", "int_type", "float_type", "bool_type", "list_type", "model_type",
    "dict_type", "int_parsing", "float_parsing", "bool_parsing", "greater_than",
    "greater_than_equal", "less_than_equal", "too_short", "string_too_short",
}  # fmt: skip


def field_problems(err: ValidationError) -> list[str]:
    """One line per error of `err`: its dotted path, then the problem. The input is quoted
    (shortened, control characters escaped) except under a key of SECRET_KEYS."""
    problems: list[str] = []
    for item in err.errors():
        where = _dotted(item["loc"])
        secret = any(part in SECRET_KEYS for part in item["loc"] if isinstance(part, str))
        kind = item["type"]
        value = "the value (not shown: it is secret)" if secret else show(item.get("input"))
        if kind == "extra_forbidden":
            text = "unknown key"
        elif kind == "missing":
            text = "is required"
        elif kind == "literal_error":
            text = f"{value} is not one of {item['ctx']['expected']}"
        else:
            text = item["msg"]
            text = text.removeprefix("Value error, ")
            if kind in _SHOWN_INPUT:
                text = f"{value}: {text[0].lower()}{text[1:]}"
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


_SHOWN = 60  # characters of a value quoted in a problem


def show(value: Any) -> str:
    """A value from the file as a problem quotes it: strings in double quotes with control
    characters escaped and long ones shortened, "a table" for a table; never call it on the
    value of a secret key."""
    if isinstance(value, str):
        text = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


# ---------------------------------------------------------------- checks across keys


def shared_client_id_problems(accounts: Any) -> list[str]:
    """Two `[[accounts]]` may share a `client_id` only to split one shop by warehouse: each of
    them names `warehouse_ids` and no warehouse id is in two of them. Given the raw list of
    account tables, returns one problem per entry that breaks this (none for the first of
    several that are fine)."""
    groups: dict[str, list[int]] = {}
    tables = accounts if isinstance(accounts, list) else []
    for index, account in enumerate(tables):
        if not isinstance(account, dict):
            continue
        client_id = account.get("client_id")
        if isinstance(client_id, int | str) and not isinstance(client_id, bool):
            groups.setdefault(str(client_id), []).append(index)
    problems: list[str] = []
    for client_id, indexes in groups.items():
        if len(indexes) < 2:
            continue
        owner: dict[object, int] = {}
        for index in indexes:
            others = ", ".join(f"accounts[{other}]" for other in indexes if other != index)
            warehouses = tables[index].get("warehouse_ids")
            if not isinstance(warehouses, list) or not warehouses:
                problems.append(
                    f"accounts[{index}].client_id: Client-Id {show(client_id)} is also used by "
                    f"{others}; entries may share a Client-Id only to split one shop by "
                    "warehouse, each with its own warehouse_ids"
                )
                continue
            for warehouse in warehouses:
                if isinstance(warehouse, str) and warehouse.strip().isdecimal():
                    warehouse = int(warehouse)  # as pydantic reads it
                if not isinstance(warehouse, int) or isinstance(warehouse, bool):
                    continue  # reported by the field check
                first = owner.setdefault(warehouse, index)
                if first != index:
                    problems.append(
                        f"accounts[{index}].warehouse_ids: warehouse {show(warehouse)} is also "
                        f"in accounts[{first}], which has the same Client-Id "
                        f"{show(client_id)}; each warehouse of a split shop belongs to one entry"
                    )
    return problems
