"""Logging: structlog on stderr, JSON lines for journald or a console rendering on a terminal.

Standard-library loggers (httpx, apscheduler, apprise) go through the same pipeline, each line
with a fixed event name (`apprise_message`, the library's text in `message`): no free text in
`event`. APScheduler's warnings (a run skipped or missed) are left to `daemon.schedule`, which
reports them as named events of its own. Every line passes a redaction step that masks each
registered secret (API keys, notification URLs and the tokens inside them) wherever it
appears: the message, nested values, exception text. The secrets and the masking live in
`daemon.redact` (re-exported here). Tracebacks are rendered without local variables.

`Findings` keeps "log state changes, not repeats": a finding (about a posting, a key, a
route) is a warning the first time it is reported, debug after that, and its end one info line.

This module imports only structlog, the standard library and `daemon.redact`; everything may
import it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import OrderedDict
from collections.abc import Hashable, MutableMapping
from typing import Any, Literal, TextIO

import structlog

from daemon.redact import MASK, redact_text, redact_value, register_secrets, secret_fragments

__all__ = [
    "FINDINGS_LIMIT",
    "MASK",
    "Findings",
    "configure_logging",
    "redact_text",
    "register_secrets",
    "secret_fragments",
]

_QUIET_LIBRARIES = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    # "Running job ..." on every cycle: our own lines say more. Its warnings (a run skipped
    # while the previous one goes on, a run missed) are daemon.schedule's named events.
    "apscheduler": logging.ERROR,
    "apprise": logging.WARNING,  # "Sent ... notification": alert_sent says it with the route
    "uvicorn": logging.WARNING,  # the board's server: board_listening says where it serves
}
_HANDLER_NAME = "ozon-sync"
# Event names of standard-library records whose logger name alone would make a poor one.
_LIBRARY_EVENTS = {"py.warnings": "python_warning"}
FINDINGS_LIMIT = 50_000  # findings a `Findings` remembers; the oldest are forgotten first


class Findings:
    """Log state changes, not repeats (like Home Assistant's update coordinator).

    `report(log, event, key, **fields)` logs a finding (a posting Ozon sent unreadable, an API
    key whose expiry cannot be read) as a warning the first time `key` (say the posting number
    and the reason) is reported, and as debug every later time; `resolved(log, event, key)`
    logs one info line when a reported finding ends, nothing otherwise. Remembers the latest
    `limit` keys (oldest forgotten first), so a daemon running for months stays small; a
    forgotten key, or any key after a restart, is a warning again the next time.
    """

    def __init__(self, limit: int = FINDINGS_LIMIT) -> None:
        self.limit = limit
        self._reported: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._reported

    def report(self, logger: Any, event: str, key: Hashable, **fields: Any) -> bool:
        """Log `event` with `fields` on `logger`: warning if `key` is new, else debug.
        Returns True when it was new."""
        if key in self._reported:
            self._reported.move_to_end(key)
            logger.debug(event, repeated=True, **fields)
            return False
        self._reported[key] = None
        while len(self._reported) > self.limit:
            self._reported.popitem(last=False)
        logger.warning(event, **fields)
        return True

    def resolved(self, logger: Any, event: str, key: Hashable, **fields: Any) -> bool:
        """Log `event` at info when `key` was reported (its finding ended) and forget it;
        nothing otherwise. Returns True when it logged."""
        if self._reported.pop(key, False) is False:
            return False
        logger.info(event, **fields)
        return True


def name_library_events(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor for standard-library records (APScheduler, httpx, Apprise,
    uvicorn, warnings): their text moves to `message` and `event` becomes a fixed snake_case
    name made of the library's name (`apprise_message`), so every line has a name to count."""
    name = str(event_dict.get("logger") or "")
    event = _LIBRARY_EVENTS.get(name)
    if event is None:
        root = re.sub(r"[^a-z0-9]+", "_", name.split(".", 1)[0].lower()).strip("_")
        event = f"{root or 'library'}_message"
    event_dict["message"] = event_dict.get("event")
    event_dict["event"] = event
    return event_dict


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
        foreign_pre_chain=[*shared, name_library_events],
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
