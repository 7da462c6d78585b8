"""Reading request bodies the way Ozon's protobuf-JSON gateway does, with Ozon's error texts.

A JSON `null` counts as an absent field; int64 fields accept numbers and digit strings; unknown
fields are ignored. Type mismatches are answered like Ozon's gateway
(`proto: syntax error (line 1:83): unexpected token [`); validation failures use the
protoc-gen-validate wording Ozon's services answer with. Everything is `code` 3, HTTP 400.

This module imports only the standard library and the sandbox's clock.
"""

from __future__ import annotations

import json
import re
from typing import Any

from daemon.sandbox.clock import parse_rfc3339

__all__ = [
    "BadRequest",
    "get_bool",
    "get_dict",
    "get_ids",
    "get_int",
    "get_str",
    "get_strs",
    "get_time",
    "parse_body",
]


class BadRequest(Exception):
    """The request is invalid: answer `status` with Ozon's `rpcStatus` body `{code, message}`."""

    def __init__(self, message: str, *, code: int = 3, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def _position(raw: str, index: int) -> str:
    line = raw.count("\n", 0, index) + 1
    column = index - (raw.rfind("\n", 0, index) + 1) + 1
    return f"line {line}:{column}"


def parse_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body into a dict; an empty body counts as `{}`.

    Raises BadRequest with a `proto: syntax error` message for invalid JSON or a non-object.
    """
    if not raw.strip():
        return {}
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        token = text[err.pos : err.pos + 1] or "EOF"
        where = _position(text, err.pos)
        raise BadRequest(f"proto: syntax error ({where}): unexpected token {token}") from err
    if not isinstance(value, dict):
        start = len(text) - len(text.lstrip())
        token = text[start : start + 1]
        raise BadRequest(
            f"proto: syntax error ({_position(text, start)}): unexpected token {token}"
        )
    return value


def _type_error(raw: str, key: str, value: Any) -> BadRequest:
    """A gateway-style error pointing at the value of `key` in the raw request text."""
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*', raw)
    if match is None:
        return BadRequest(f"proto: invalid value for field {key}: {json.dumps(value)[:40]}")
    token = raw[match.end() : match.end() + 1]
    return BadRequest(
        f"proto: syntax error ({_position(raw, match.end())}): unexpected token {token}"
    )


def get_dict(obj: dict[str, Any], key: str, raw: str) -> dict[str, Any]:
    """Return the object at `key` (`{}` when absent or null); BadRequest for another type."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _type_error(raw, key, value)
    return value


def get_str(obj: dict[str, Any], key: str, raw: str) -> str:
    """Return the string at `key` (`""` when absent or null); BadRequest for another type."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(raw, key, value)
    return value


def get_bool(obj: dict[str, Any], key: str, raw: str) -> bool:
    """Return the boolean at `key` (False when absent or null); BadRequest for another type."""
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _type_error(raw, key, value)
    return value


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
        return int(value)
    return None


def get_int(obj: dict[str, Any], key: str, raw: str) -> int | None:
    """Return the int64 at `key` (a number or a digit string), None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    number = _int(value)
    if number is None:
        raise _type_error(raw, key, value)
    return number


def get_ids(obj: dict[str, Any], key: str, raw: str) -> frozenset[int] | None:
    """Return an int64 array as a set; None when absent, null or empty (no filtering)."""
    value = obj.get(key)
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise _type_error(raw, key, value)
    ids = [_int(item) for item in value]
    if any(item is None for item in ids):
        raise _type_error(raw, key, value)
    if len(ids) > 1000:
        raise BadRequest(f"invalid request: {key} must contain at most 1000 items")
    return frozenset(item for item in ids if item is not None)


def get_strs(obj: dict[str, Any], key: str, raw: str) -> frozenset[str] | None:
    """Return a string array as a set; None when absent, null or empty (no filtering)."""
    value = obj.get(key)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or any(not isinstance(item, str) for item in value):
        raise _type_error(raw, key, value)
    return frozenset(value)


def get_time(obj: dict[str, Any], key: str, raw: str, path: str) -> int | None:
    """Return the date-time at `key` in microseconds, None when absent or null.

    `path` names the field in the error message (e.g. `filter.cutoff_from`).
    """
    value = obj.get(key)
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except (ValueError, TypeError) as err:
        raise BadRequest(
            f"proto: invalid value for {path}: {json.dumps(value)[:60]}: bad Timestamp"
        ) from err
