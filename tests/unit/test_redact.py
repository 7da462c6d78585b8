"""Secrets (issue 16.2): routes shown as scheme and host only; the redaction of every stream
and of the texts the store keeps."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon import redact
from daemon.notify.routes import Route, describe_url
from daemon.redact import RedactingStream, redact_text, register_secrets, secret_fragments
from daemon.store import Store

KEY = "k3y-5ecret-0f-the-5hop-abcdef"
ROUTE = "json://hook-user:hook-Pa55word@hooks.example.com:8443/path/T0ken-123456?x=qTok3n99"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture(autouse=True)
def secrets() -> Iterator[None]:
    saved = (redact._secrets, redact._pattern)
    register_secrets([KEY, ROUTE])
    yield
    redact._secrets, redact._pattern = saved


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://127.0.0.1:8080/hook/SECRETTOKEN123", "json://127.0.0.1:8080"),
        ("jsons://user:pass@hooks.example.com/p/tok?x=1", "jsons://hooks.example.com"),
        ("mailto://user:pw@gmail.com", "mailto://gmail.com"),
        ("json://[::1]:99/x", "json://[::1]:99"),
        ("ntfy://localhost/topic", "ntfy://localhost"),
        ("tgram://123456:AAHsecrettoken/98765", "tgram://"),
        ("wecombot://SECRETKEY1234567", "wecombot://"),
        ("dingtalk://tokentokentoken/", "dingtalk://"),
        ("discord://1234/abcdef", "discord://"),
        ("json://[host/x", "json://"),
        ("no url at all", "(not a URL)"),
    ],
)
def test_a_route_is_shown_by_scheme_and_network_host_only(url: str, shown: str) -> None:
    assert describe_url(url) == shown
    assert Route(0, url, frozenset()).shown_as == shown
    assert Route(0, url, frozenset(), label="console").shown_as == "console"


def test_the_host_of_a_route_is_no_secret_but_its_tokens_are() -> None:
    fragments = secret_fragments(ROUTE)
    assert {"hook-Pa55word", "T0ken-123456", "qTok3n99", "hook-user"} <= set(fragments)
    assert not any(
        f == "hooks.example.com" or f.startswith("hooks.example.com:") for f in fragments
    )
    assert (
        redact_text(f"posted to {describe_url(ROUTE)}") == "posted to json://hooks.example.com:8443"
    )
    bot = secret_fragments("tgram://123456789:AAH-bot-token-xyz/-100987654")
    assert "123456789:AAH-bot-token-xyz" in bot, "a token that looks like a host is masked"


def test_a_redacting_stream_masks_secrets_even_when_written_in_pieces() -> None:
    target = io.StringIO()
    stream = RedactingStream(target)
    stream.write(f"error: {KEY[:5]}")
    stream.write(f"{KEY[5:]} and {ROUTE}\nnext ")
    stream.write("line T0ken-123456")
    stream.flush()
    text = target.getvalue()
    assert KEY not in text and "T0ken-123456" not in text and "hook-Pa55word" not in text
    assert text == "error: *** and ***\nnext line ***"


def test_the_store_keeps_no_secret_an_error_echoed(tmp_path: Path) -> None:
    echoed = f"Ozon answered 403 (Invalid Api-Key {KEY}); route json://x/T0ken-123456 failed"
    with Store.open(tmp_path / "state.db", mode="writer") as store:
        store.record_sync_failure("shop-1", echoed, NOW)
        alert = store.enqueue_alert(
            "shop-1", "api_error", [], NOW, urgent=True, routes=["r1"], reason=echoed,
            payload={"event": "api_error", "reason": echoed, "nested": [{"deep": echoed}]},
        )  # fmt: skip
        store.mark_failed(alert, "r1", echoed, NOW)
        claim = store.claim_action("shop-1", "1-1", "cancel", NOW, dry_run=False, reason=echoed)
        assert claim is not None
        store.finish_action(claim, "failed", NOW, reason=echoed)
        store.record_planned("shop-1", "cancel", [("2-1", echoed)], NOW)
        assert "Api-Key ***" in store.get_sync_state("shop-1").last_error
        (due,) = store.deliveries_due(NOW)
        assert due.alert.payload["nested"][0]["deep"].startswith("Ozon answered 403")
    for path in tmp_path.glob("state.db*"):
        data = path.read_bytes()
        assert KEY.encode() not in data and b"T0ken-123456" not in data, path.name
