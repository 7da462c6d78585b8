"""Secrets (issue 16.2): routes shown as scheme and host only; the redaction of every stream
and of the texts the store keeps."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon import redact
from daemon.notify.routes import Route, describe_url
from daemon.redact import RedactingStream, redact_text, register_secrets, secret_fragments
from daemon.store import Store

KEY = "k3y-5ecret-0f-the-5hop-abcdef"
ROUTE = "json://hook-user:hook-Pa55word@hooks.example.com:8443/path/T0ken-123456?x=qTok3n99"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture(autouse=True)
def secrets() -> Iterator[None]:
    saved = (redact._secrets, redact._masker)
    register_secrets([KEY, ROUTE])
    yield
    redact._secrets, redact._masker = saved


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
    echoed = (
        f"Ozon answered 403 (Invalid Api-Key {KEY}, {KEY[:-1]}, {KEY[3:]}); "
        "route json://x/T0ken-123456 failed"
    )
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
        store.record_skipped("shop-1", "3-1", "cancel", NOW, reason=echoed)
        assert "Api-Key ***" in store.get_sync_state("shop-1").last_error
        (due,) = store.deliveries_due(NOW)
        assert due.alert.payload["nested"][0]["deep"].startswith("Ozon answered 403")
        store.drop(alert, "r1", echoed, NOW)
    for path in tmp_path.glob("state.db*"):
        data = path.read_bytes()
        assert KEY.encode() not in data and b"T0ken-123456" not in data, path.name
        for part in (KEY[:-1], KEY[3:], KEY[5 : 5 + redact.RUN]):
            assert part.encode() not in data, f"{part} in {path.name}"


# ---------------------------------------------------------------- properties (issue 24.5, 24.6)

KEY_CHARS = "abcdef0123456789-ABCXYZ"
WORD_CHARS = "abcdefghijklmnopqrstuvwxyz_"
FIELD_NAMES = (
    "account", "event", "level", "logger", "timestamp", "reason", "database", "name",
    "api_key", "warehouse_ids", "max_requests_per_second", "calendars", "a", "key",
)  # fmt: skip


@contextlib.contextmanager
def only(*secrets: str) -> Iterator[None]:
    """Exactly `secrets` are registered inside the block."""
    saved = (redact._secrets, redact._masker)
    redact._secrets, redact._masker = (), redact._Masker()
    register_secrets(secrets)
    try:
        yield
    finally:
        redact._secrets, redact._masker = saved


def runs_of(secret: str) -> set[str]:
    """The parts of `secret` that must never show: RUN-long runs with enough variety."""
    return {
        secret[i : i + redact.RUN]
        for i in range(len(secret) - redact.RUN + 1)
        if redact._maskable_run(secret[i : i + redact.RUN])
    }


long_secrets = st.text(KEY_CHARS, min_size=redact.SHORT, max_size=48).filter(
    lambda s: len(set(s)) >= 6
)
filler = st.text("abcdefghijklmnop xyz.,:;()[]{}\"'=\n0123456789-", max_size=60)


@settings(max_examples=300, deadline=None)
@given(long_secrets, st.data())
def test_no_long_part_of_a_long_secret_survives_anywhere_in_a_text(
    secret: str, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(secret) - redact.RUN))
    end = data.draw(st.integers(start + redact.RUN, len(secret)))
    pieces = [data.draw(filler), secret[start:end], data.draw(filler)]
    if data.draw(st.booleans()):
        pieces += [secret, data.draw(filler)]
    text = "".join(pieces)
    with only(secret):
        masked = redact_text(text)
    for run in runs_of(secret):
        assert run not in masked, (text, masked)
    assert secret not in masked


@settings(max_examples=300, deadline=None)
@given(
    st.text(WORD_CHARS, min_size=1, max_size=redact.SHORT - 1),
    st.lists(st.text(WORD_CHARS, min_size=1, max_size=12), max_size=12),
    st.data(),
)
def test_a_short_secret_is_masked_as_a_token_and_never_inside_another_word(
    secret: str, words: list[str], data: st.DataObject
) -> None:
    others = [word for word in words if word != secret]
    alone_at = data.draw(st.integers(0, len(others)))
    text = " ".join([*others[:alone_at], secret, *others[alone_at:]])
    with only(secret):
        masked = redact_text(text)
    assert masked.split(" ") == [*others[:alone_at], "***", *others[alone_at:]]
    assert secret not in masked.split(" ")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.text(WORD_CHARS, min_size=1, max_size=redact.SHORT - 1), long_secrets),
    # values without "=" or '"': a short secret followed by " =" or '":' reads as a key or a
    # field name (the program's own words, see `redact._token`), a known limit of short secrets
    st.dictionaries(
        st.sampled_from(FIELD_NAMES),
        st.text(st.characters(blacklist_characters='="'), max_size=20),
        max_size=6,
    ),
)
def test_json_field_names_and_config_keys_are_never_touched(
    secret: str, fields: dict[str, str]
) -> None:
    fields = {key: f"{value} {secret} {value}" for key, value in fields.items() if key != secret}
    if len(secret) >= redact.SHORT:  # a long secret is masked anywhere, field names too
        fields = {key: value for key, value in fields.items() if secret not in key}
    line = json.dumps(fields)
    toml = "\n".join(f"{key} = {json.dumps(value)}" for key, value in fields.items())
    with only(secret):
        record = json.loads(redact_text(line))
        keys = [row.split(" = ")[0] for row in redact_text(toml).splitlines() if row]
    assert record.keys() == fields.keys()
    assert keys == list(fields)
    for value in record.values():
        assert secret not in value.split(" ")


def test_a_url_keeps_its_host_while_its_tokens_and_their_parts_are_masked() -> None:
    with only(ROUTE):
        assert redact_text(describe_url(ROUTE)) == "json://hooks.example.com:8443"
        assert redact_text("401 for T0ken-12345 and hook-Pa55wor") == "401 for *** and ***"


def test_a_run_of_a_key_that_is_a_word_is_not_masked_but_its_token_part_is() -> None:
    with only("reminder-hook-3f9a2c7e51"):
        assert redact_text("a reminder about the hook") == "a reminder about the hook"
        assert redact_text("Invalid Api-Key reminder-hook-3f9a2c7e5") == "Invalid Api-Key ***"


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/digest",
        "json://127.0.0.1:8080/ozon-sync/alerts?event=overdue",
        "json://127.0.0.1:8080/to-cancelled_elsewhere",
    ],
)
def test_a_route_path_of_plain_words_is_not_a_secret_so_event_names_stay_readable(
    url: str,
) -> None:
    # A json:// receiver at /digest masked every "digest" (the event name in the payload
    # included), and `once` crashed on the masked event.
    assert secret_fragments(url) == [url]
    with only(*secret_fragments(url)):
        text = '{"event": "digest", "route": "alerts", "also": "cancelled"}'
        assert redact_text(text) == text
        assert url not in redact_text(f"posting to {url}")


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("json://127.0.0.1:8080/hook?token=Ab3xYz9Q", "Ab3xYz9Q"),
        ("json://127.0.0.1:8080/h/k3y0f7h3r0ut3", "k3y0f7h3r0ut3"),
        ("wecombot://0123456789abcdef", "0123456789abcdef"),
    ],
)
def test_a_token_like_route_path_part_is_still_masked_on_its_own(url: str, token: str) -> None:
    assert token in secret_fragments(url)
    with only(*secret_fragments(url)):
        assert token not in redact_text(f"the library logged {token} alone")
