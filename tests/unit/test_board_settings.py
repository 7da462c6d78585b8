"""`[board]` in the config (issue 18.1): addresses, the token's one source, and the rule that a
board facing the network needs a token (exit 78 through the config's ConfigError)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config, ConfigError, parse_config
from daemon.web.server import board_token
from daemon.web.settings import ListenError, is_loopback, split_listen

ACCOUNTS = [{"name": "shop-1", "client_id": "1", "api_key_env": "K"}]
GOOD_TOKEN = "b0ard-token-0123456789abcdef"


def config(board: dict[str, Any], path: Path | None = None) -> Config:
    return parse_config({"accounts": ACCOUNTS, "board": board}, path)


def problems(board: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config(board)
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9465", ("127.0.0.1", 9465)),
        ("[::1]:80", ("::1", 80)),
        ("localhost:0", ("localhost", 0)),
        ("0.0.0.0:9465", ("0.0.0.0", 9465)),
        ("board.lan:8080", ("board.lan", 8080)),
    ],
)
def test_listen_addresses_split_into_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert split_listen(text) == expected


@pytest.mark.parametrize("text", ["9465", ":9465", "host:", "host:port", "h:70000", "a b:1"])
def test_a_listen_address_without_host_and_port_is_refused(text: str) -> None:
    with pytest.raises(ListenError):
        split_listen(text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("board.lan", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_no_board_section_means_no_board() -> None:
    board = parse_config({"accounts": ACCOUNTS}).board
    assert board.listen is None and board.secret_fields() == {} and board.language is None


def test_a_loopback_board_needs_no_token() -> None:
    assert config({"listen": "127.0.0.1:9465"}).board.listen == "127.0.0.1:9465"


def test_a_board_facing_the_network_without_a_token_is_refused() -> None:
    found = problems({"listen": "0.0.0.0:9465"})
    assert len(found) == 1
    assert found[0].startswith('board.listen: "0.0.0.0:9465" is not a loopback address')
    assert "token_env" in found[0]
    assert config({"listen": "0.0.0.0:9465", "token_env": "T"}).board.listen == "0.0.0.0:9465"


def test_two_token_sources_are_refused() -> None:
    found = problems({"token_env": "T", "token_file": "/t"})
    assert found == ["board: sets token_env and token_file; set at most one token source"]


@pytest.mark.parametrize(
    ("board", "start"),
    [
        ({"listen": "nowhere"}, "board.listen:"),
        ({"language": "de"}, "board.language:"),
        ({"lisen": "127.0.0.1:1"}, "board.lisen: unknown key"),
    ],
)
def test_bad_board_keys_are_named_by_their_path(board: dict[str, Any], start: str) -> None:
    assert problems(board)[0].startswith(start)


def test_an_inline_token_is_masked_where_the_config_is_printed() -> None:
    board = config({"token": GOOD_TOKEN})
    assert board.masked()["board"]["token"] == "***"
    assert GOOD_TOKEN not in repr(board)


def test_the_token_comes_from_its_source(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text(GOOD_TOKEN + "\n")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "board").write_text(GOOD_TOKEN)
    env = {"BOARD_TOKEN": GOOD_TOKEN, "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    for board in (
        {"token_env": "BOARD_TOKEN"},
        {"token_file": str(file)},
        {"token_credential": "board"},
        {"token": GOOD_TOKEN},
    ):
        token = board_token(config(board), env)
        assert token is not None and token.reveal() == GOOD_TOKEN
    assert board_token(config({}), env) is None


@pytest.mark.parametrize(
    ("board", "env", "needle"),
    [
        (
            {"token_env": "BOARD_TOKEN"},
            {},
            "board.token_env: the environment variable named for the board is not set",
        ),
        ({"token_env": "BOARD_TOKEN"}, {"BOARD_TOKEN": "Sekr1t-9"}, "shorter than 16"),
        ({"token": "has a space in it, 1234"}, {}, "visible ASCII"),
        ({"token": "пароль-пароль-пароль"}, {}, "visible ASCII"),
        (
            {"token_file": "/nonexistent/token"},
            {},
            "board.token_file: the file named for the board does not exist",
        ),
    ],
    ids=["unset", "short", "space", "not-ascii", "no-file"],
)
def test_a_missing_or_unfit_token_is_a_config_error(
    board: dict[str, Any], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        board_token(config(board), env)
    assert needle in str(caught.value)
    value = env.get("BOARD_TOKEN") or board.get("token")
    if value:
        assert value not in str(caught.value)
