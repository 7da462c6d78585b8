"""Logging: JSON lines on the given stream, libraries routed through it, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from daemon import logs
from daemon.logs import (
    Findings,
    configure_logging,
    redact_text,
    register_secrets,
    secret_fragments,
)

API_KEY = "a1b2c3d4-0000-4111-8222-abcdefabcdef"
ROUTE = "tgram://123456789:AAH-bot-token-xyz/-100987654"
LOG = structlog.get_logger("t")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    register_secrets([API_KEY, ROUTE])
    yield out
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "ozon-sync":
            root.removeHandler(handler)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_log_lines_are_json_with_event_level_and_utc_timestamp(stream: io.StringIO) -> None:
    structlog.get_logger("t").info("cycle_finished", account="shop-1", postings=3)
    (line,) = lines(stream)
    assert line["event"] == "cycle_finished"
    assert line["level"] == "info"
    assert line["account"] == "shop-1"
    assert str(line["timestamp"]).endswith("Z")


def test_secrets_are_masked_in_message_nested_values_and_exceptions(stream: io.StringIO) -> None:
    log = structlog.get_logger("t")
    log.warning(f"key {API_KEY} rejected", detail={"headers": {"Api-Key": API_KEY}, "l": [ROUTE]})
    try:
        raise RuntimeError(f"boom with {API_KEY} and token AAH-bot-token-xyz")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert API_KEY not in text
    assert "AAH-bot-token-xyz" not in text
    assert "123456789:AAH-bot-token-xyz" not in text
    assert text.count("***") >= 4
    assert lines(stream)[1]["exception"]


def test_standard_library_loggers_go_through_the_same_pipeline(stream: io.StringIO) -> None:
    logging.getLogger("apprise").warning("sending to %s failed", ROUTE)
    logging.getLogger("httpx").info("HTTP Request: POST ... 200")  # below WARNING: dropped
    (line,) = lines(stream)
    assert line["logger"] == "apprise"
    assert line["event"] == "apprise_message"  # a name to count by, never the library's text
    assert line["message"] == "sending to *** failed"


def test_tracebacks_carry_no_local_variables(stream: io.StringIO) -> None:
    def fail() -> None:
        local_value = "LOCAL-VALUE-NOT-LOGGED"
        raise ValueError(len(local_value))

    try:
        fail()
    except ValueError:
        structlog.get_logger("t").exception("failed")
    assert "LOCAL-VALUE-NOT-LOGGED" not in stream.getvalue()
    assert "ValueError" in stream.getvalue()


def test_console_format_renders_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    configure_logging("debug", "console", stream=out)
    try:
        structlog.get_logger("t").debug("hello", account="shop-1")
    finally:
        structlog.reset_defaults()
    assert "hello" in out.getvalue()
    assert "account=shop-1" in out.getvalue()
    assert not out.getvalue().lstrip().startswith("{")


def test_url_fragments_include_the_token_alone() -> None:
    fragments = secret_fragments(ROUTE)
    assert ROUTE in fragments
    assert "AAH-bot-token-xyz" in fragments
    assert "123456789:AAH-bot-token-xyz" in fragments


def test_redact_text_masks_every_registered_secret() -> None:
    register_secrets(["s3cr3t-value"])
    assert redact_text("x s3cr3t-value y") == "x *** y"
    assert logs.MASK == "***"


def test_a_finding_is_a_warning_once_per_key_then_debug() -> None:
    findings = Findings()
    with capture_logs() as logs:
        assert findings.report(LOG, "posting_unreadable", ("1-1", "field a"), posting_number="1-1")
        assert not findings.report(LOG, "posting_unreadable", ("1-1", "field a"))
        assert findings.report(LOG, "posting_unreadable", ("1-1", "field b"))  # another reason
        assert findings.report(LOG, "posting_unreadable", ("2-1", "field a"))  # another posting
        assert not findings.report(LOG, "posting_unreadable", ("1-1", "field a"))
    assert [entry["log_level"] for entry in logs] == [
        "warning", "debug", "warning", "warning", "debug"
    ]  # fmt: skip
    assert logs[0]["posting_number"] == "1-1" and logs[1]["repeated"] is True


def test_a_reported_finding_ends_with_one_info_line_and_may_start_again() -> None:
    findings = Findings()
    with capture_logs() as logs:
        assert not findings.resolved(LOG, "key_info_available", "key")  # never reported: quiet
        findings.report(LOG, "key_info_unavailable", "key")
        findings.report(LOG, "key_info_unavailable", "key")
        assert findings.resolved(LOG, "key_info_available", "key", account="shop-1")
        assert not findings.resolved(LOG, "key_info_available", "key")
        findings.report(LOG, "key_info_unavailable", "key")
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("key_info_unavailable", "warning"),
        ("key_info_unavailable", "debug"),
        ("key_info_available", "info"),
        ("key_info_unavailable", "warning"),
    ]


def test_findings_forget_the_oldest_keys_beyond_their_limit() -> None:
    findings = Findings(limit=2)
    with capture_logs() as logs:
        for key in ("a", "b", "a", "c", "a", "b"):  # "a" is kept fresh; "b" goes first
            findings.report(LOG, "finding", key)
    assert [entry["log_level"] for entry in logs] == [
        "warning", "warning", "debug", "warning", "debug", "warning"
    ]  # fmt: skip
    assert "a" in findings and "b" in findings and "c" not in findings


def test_every_library_line_gets_a_snake_case_event_name(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    logging.getLogger("apscheduler.scheduler").error('Executor lookup ("x") failed')
    logging.getLogger("apscheduler.scheduler").warning("a skipped run: daemon.schedule says it")
    (uvicorn, apscheduler) = lines(stream)
    assert (uvicorn["event"], uvicorn["message"]) == (
        "uvicorn_message",
        "Invalid HTTP request received.",
    )
    assert (apscheduler["event"], apscheduler["level"]) == ("apscheduler_message", "error")
