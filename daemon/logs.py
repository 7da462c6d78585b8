"""Logging: structlog on stderr, JSON lines for journald or a console rendering on a terminal.

Standard-library loggers (httpx, apscheduler, apprise) go through the same pipeline. Every line
passes a redaction step that masks each registered secret (API keys, notification URLs and the
tokens inside them) wherever it appears: the message, nested values, exception text. The
secrets and the masking live in `daemon.redact` (re-exported here). Tracebacks are rendered
without local variables.

This module imports only structlog, the standard library and `daemon.redact`; everything may
import it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from daemon.redact import MASK, redact_text, redact_value, register_secrets, secret_fragments

__all__ = [
    "MASK",
    "configure_logging",
    "redact_text",
    "register_secrets",
    "secret_fragments",
]

_QUIET_LIBRARIES = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "apscheduler": logging.WARNING,  # "Running job ..." on every cycle: our own lines say more
    "apprise": logging.WARNING,  # "Sent ... notification": alert_sent says it with the route
    "uvicorn": logging.WARNING,  # the board's server: board_listening says where it serves
}
_HANDLER_NAME = "ozon-sync"


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask registered secrets in every value of the event."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue
        event_dict[key] = redact_value(value)
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
