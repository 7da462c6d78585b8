"""The known secrets and the one function that masks them in any text from outside.

Every secret the config resolves (API keys, notification URLs and the tokens inside them, the
heartbeat URL) is registered here once (`register_secrets`, by the CLI and on a reload). Text
that comes from outside the daemon (Ozon's error bodies, exception texts of libraries) goes
through `redact_text` before it is stored (the store's writers call it), logged (the log
processor in `daemon.logs`), rendered or printed (stdout and stderr are `RedactingStream`s), so
a secret that an error echoes is never kept or shown.

This module imports only the standard library; everything may import it.
"""

from __future__ import annotations

import io
import ipaddress
import re
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

__all__ = [
    "MASK",
    "RedactingStream",
    "network_host",
    "redact_text",
    "redact_value",
    "register_secrets",
    "secret_fragments",
]

MASK = "***"
_MIN_FRAGMENT = 6

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_pattern: re.Pattern[str] | None = None


def secret_fragments(value: str) -> list[str]:
    """The value itself plus the parts of it that may be logged on their own.

    For a URL such as `tgram://123456:AAH-token/987` the user, password, host and each path or
    query value long enough to be a token are returned too, so a library that logs only the
    token is still masked. A host that is a network address (`network_host`: a DNS name with
    a dot, an IP address, localhost) is no secret and stays readable: it is what `check` and
    the logs show of a route (`json://127.0.0.1:8080`); the token-like "hosts" of services
    (`tgram://BOT_TOKEN/`, `wecombot://KEY`) are masked.
    """
    fragments = [value]
    if "://" not in value:
        return fragments
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = str(parts.port or "")
    except ValueError:  # not a URL after all (a token with a colon): mask its pieces
        host, port = "", ""
        parts = urlsplit(value.replace("[", "%5B").replace("]", "%5D"))
    public = {host, port} if network_host(host) else set()
    candidates = [parts.username or "", parts.password or "", host]
    candidates += re.split(r"[/:@?&=,]", parts.netloc + parts.path + "?" + parts.query)
    candidates.append(parts.netloc.rsplit("@", 1)[-1])
    for candidate in candidates:
        candidate = unquote(candidate)
        if (
            len(candidate) >= _MIN_FRAGMENT
            and candidate not in fragments
            and candidate.lower() not in public
            and candidate.lower() not in {f"{host}:{port}", f"[{host}]:{port}"}
        ):
            fragments.append(candidate)
    return fragments


_DNS_NAME = re.compile(r"(?=.{4,253}\Z)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}\Z")


def network_host(host: str) -> bool:
    """True when `host` (of a URL) is a network address: a DNS name with a dot and a
    letters-only top-level domain, an IP address, or localhost. Such a host is shown; any other
    "host" (a bot token, a webhook key) is treated as a secret."""
    if host == "localhost" or _DNS_NAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def register_secrets(values: Iterable[str]) -> None:
    """Add secret values to the redaction list (empty strings are ignored)."""
    global _secrets, _pattern
    with _lock:
        known = set(_secrets)
        for value in values:
            for fragment in secret_fragments(value):
                if fragment:
                    known.add(fragment)
        # Longest first, so a URL is masked whole before its fragments are.
        _secrets = tuple(sorted(known, key=len, reverse=True))
        _pattern = (
            re.compile("|".join(re.escape(secret) for secret in _secrets)) if _secrets else None
        )


def redact_text(text: str) -> str:
    """Return `text` with every registered secret replaced by the mask."""
    pattern = _pattern
    if pattern is None:
        return text
    return pattern.sub(MASK, text)


def redact_value(value: Any) -> Any:
    """`value` with every registered secret masked in its strings, at any depth (dicts,
    lists, tuples, sets; an exception becomes its masked text)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_value(item) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(redact_value(item) for item in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


class RedactingStream(io.TextIOBase):
    """A text stream that writes to `target` with every registered secret masked, a line at a
    time (a secret never holds a line break, so none is split between two writes); what is
    left of a line is written on `flush`."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self.target.write(redact_text(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.target.write(redact_text(self._pending))
            self._pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.target, "encoding", "utf-8"))
