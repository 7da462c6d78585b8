"""Logging: structlog on stderr, JSON lines for journald or a console rendering on a terminal.

Standard-library loggers (httpx, apscheduler, apprise) go through the same pipeline. Every line
passes a redaction step that masks each registered secret (API keys, notification URLs and the
tokens inside them) wherever it appears: the message, nested values, exception text.
Tracebacks are rendered without local variables.

This module imports only structlog and the standard library; everything may import it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO
from urllib.parse import unquote, urlsplit

import structlog

__all__ = [
    "MASK",
    "configure_logging",
    "redact_text",
    "register_secrets",
    "secret_fragments",
]

MASK = "***"
_QUIET_LIBRARIES = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "apscheduler": logging.WARNING,  # "Running job ..." on every cycle: our own lines say more
    "apprise": logging.WARNING,  # "Sent ... notification": alert_sent says it with the route
    "uvicorn": logging.WARNING,  # the board's server: board_listening says where it serves
}
_MIN_FRAGMENT = 6
_HANDLER_NAME = "ozon-sync"

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_pattern: re.Pattern[str] | None = None


def secret_fragments(value: str) -> list[str]:
    """The value itself plus the parts of it that may be logged on their own.

    For a URL such as `tgram://123456:AAH-token/987` the user, password, host and each path or
    query value long enough to be a token are returned too, so a library that logs only the
    token is still masked.
    """
    fragments = [value]
    if "://" not in value:
        return fragments
    parts = urlsplit(value)
    candidates = [parts.username or "", parts.password or "", parts.hostname or ""]
    candidates += re.split(r"[/:@?&=,]", parts.netloc + parts.path + "?" + parts.query)
    for candidate in candidates:
        candidate = unquote(candidate)
        if len(candidate) >= _MIN_FRAGMENT and candidate not in fragments:
            fragments.append(candidate)
    netloc_token = parts.netloc.rsplit("@", 1)[-1]
    if len(netloc_token) >= _MIN_FRAGMENT and netloc_token not in fragments:
        fragments.append(netloc_token)
    return fragments


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


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(item) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(_redact_value(item) for item in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask registered secrets in every value of the event."""
    if _pattern is None:
        return event_dict
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue
        event_dict[key] = _redact_value(value)
    return event_dict


def configure_logging(
    level: str = "info",
    log_format: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
) -> None:
    """Send every log line (ours and the libraries') to `stream` (default: stderr).

    `log_format` auto means console rendering on a terminal, JSON lines otherwise.
    """
    stream = stream if stream is not None else sys.stderr
    use_console = log_format == "console" or (
        log_format == "auto" and hasattr(stream, "isatty") and stream.isatty()
    )
    renderer: Any = (
        structlog.dev.ConsoleRenderer(
            colors=use_console and log_format == "auto",
            exception_formatter=structlog.dev.plain_traceback,
        )
        if use_console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:  # ours from an earlier call; leave others alone
            root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    for name, quiet_level in _QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(quiet_level, root.level))
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
