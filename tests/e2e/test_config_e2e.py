"""Hostile and unlucky configs through the installed command (issue 16 items 2c and 3, issue 15
item 3): what `check --offline` accepts every later command can use; everything else exits 78
naming the key by its dotted path on one plain last line, and never shows a secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env, last_stderr_line, run_cli

SECRET = "Zq7SECRETk3y9Pasted"
"""Stands for a key or a token: it must appear in no output whatever the mistake around it."""
NUMBER = "73519264801"
"""A key written as a TOML number: just as secret."""

ACCOUNT = """
[[accounts]]
name = "shop-1"
client_id = "123456"
"""
GOOD_KEY = 'api_key_env = "OZON_KEY"\n'


def write_config(folder: Path, body: str, daemon: str = "") -> Path:
    path = folder / "config.toml"
    if "database" not in daemon:
        daemon = f'database = "state.db"\n{daemon}'
    path.write_text(f'[daemon]\nlog_format = "json"\n{daemon}\n{body}\n', encoding="utf-8")
    return path


def check_offline(
    folder: Path, body: str, daemon: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    path = write_config(folder, body, daemon)
    return run_cli(
        "--config", str(path), "check", "--offline", env=clean_env(OZON_KEY="key-1", **env)
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def assert_config_error(result: subprocess.CompletedProcess[str], *paths: str) -> str:
    """Exit 78, no traceback, one plain last line naming every dotted path."""
    assert result.returncode == 78, explain(result)
    assert "Traceback" not in result.stderr, explain(result)
    last = last_stderr_line(result)
    assert last.startswith("ozon-sync: "), explain(result)
    for path in paths:
        assert path in last, f"{path!r} not named: {last}"
    return last


def assert_no_secret(result: subprocess.CompletedProcess[str], secret: str = SECRET) -> None:
    assert secret not in result.stdout + result.stderr, explain(result)


# ---------------------------------------------------------------- 16.2(c): no value of a secret


SECRET_FIELD_MISTAKES = [
    ("api_key as a list", ACCOUNT + f'api_key = ["{SECRET}"]\n', "accounts[0].api_key"),
    ("api_key as a number", ACCOUNT + f"api_key = {NUMBER}\n", "accounts[0].api_key"),
    ("api_key as a table", ACCOUNT + f'api_key = {{ key = "{SECRET}" }}\n', "accounts[0].api_key"),
    (
        "a key pasted into api_key_env",
        ACCOUNT + f'api_key_env = "{SECRET}-7f3c-4c68"\n',
        "accounts[0].api_key_env",
    ),
    (
        "a key that looks like a variable name pasted into api_key_env",
        ACCOUNT + f'api_key_env = "{SECRET}"\n',
        "accounts[0].api_key_env",
    ),
    (
        "a key pasted into api_key_file",
        ACCOUNT + f'api_key_file = "{SECRET}"\n',
        "accounts[0].api_key_file",
    ),
    (
        "a key pasted into api_key_credential",
        ACCOUNT + f'api_key_credential = "{SECRET}"\n',
        "accounts[0].api_key_credential",
    ),
    (
        "a number as url",
        ACCOUNT + GOOD_KEY + f"[[notify]]\nurl = {NUMBER}\n",
        "notify[0].url",
    ),
    (
        "a URL pasted into url_file",
        ACCOUNT + GOOD_KEY + f'[[notify]]\nurl_file = "tgram://{SECRET}/42"\n',
        "notify[0].url_file",
    ),
    (
        "a URL pasted into url_env",
        ACCOUNT + GOOD_KEY + f'[[notify]]\nurl_env = "tgram://{SECRET}/42"\n',
        "notify[0].url_env",
    ),
    (
        "url as a list",
        ACCOUNT + GOOD_KEY + f'[[notify]]\nurl = ["tgram://{SECRET}/42"]\n',
        "notify[0].url",
    ),
    (
        "heartbeat_url as a list",
        ACCOUNT + GOOD_KEY + f'[health]\nheartbeat_url = ["https://hc-ping.com/{SECRET}"]\n',
        "health.heartbeat_url",
    ),
    (
        "a URL pasted into heartbeat_url_env",
        ACCOUNT + GOOD_KEY + f'[health]\nheartbeat_url_env = "https://hc-ping.com/{SECRET}"\n',
        "health.heartbeat_url_env",
    ),
]


@pytest.mark.parametrize(
    ("body", "path"),
    [case[1:] for case in SECRET_FIELD_MISTAKES],
    ids=[case[0] for case in SECRET_FIELD_MISTAKES],
)
def test_a_mistake_in_a_secret_field_names_the_key_never_the_value(
    tmp_path: Path, body: str, path: str
) -> None:
    result = check_offline(tmp_path, body, CREDENTIALS_DIRECTORY=str(tmp_path))
    assert_config_error(result, path)
    assert_no_secret(result)
    assert_no_secret(result, NUMBER)


# ---------------------------------------------------------------- 16.3: nothing a command can't use


def test_a_malformed_notification_url_exits_78_without_showing_it(tmp_path: Path) -> None:
    inline = ACCOUNT + GOOD_KEY + f'[[notify]]\nurl = "json://[{SECRET}/hook"\n'
    assert_no_secret(assert_config_error_result(check_offline(tmp_path, inline), "notify[0].url"))
    from_env = ACCOUNT + GOOD_KEY + '[[notify]]\nurl_env = "OZON_ROUTE"\n'
    result = check_offline(tmp_path, from_env, OZON_ROUTE=f"json://[{SECRET}/hook")
    assert_no_secret(assert_config_error_result(result, "notify[0].url_env"))


def assert_config_error_result(
    result: subprocess.CompletedProcess[str], *paths: str
) -> subprocess.CompletedProcess[str]:
    assert_config_error(result, *paths)
    return result


BAD_VALUES = [
    ("client_id with a leading space", '[[accounts]]\nname = "a"\nclient_id = " 123"\n'
     + GOOD_KEY, "", {}, "accounts[0].client_id"),
    ("client_id with a letter outside ASCII", '[[accounts]]\nname = "a"\nclient_id = "12З"\n'
     + GOOD_KEY, "", {}, "accounts[0].client_id"),
    ("inline api_key with trailing whitespace", ACCOUNT + 'api_key = "key-1 "\n', "", {},
     "accounts[0].api_key"),
    ("inline api_key with a letter outside ASCII", ACCOUNT + 'api_key = "kеy-1"\n', "", {},
     "accounts[0].api_key"),
    ("api_key from the environment with trailing whitespace", ACCOUNT
     + 'api_key_env = "OZON_BAD"\n', "", {"OZON_BAD": "key-1 "}, "accounts[0].api_key_env"),
    ("api_key from the environment with a letter outside ASCII", ACCOUNT
     + 'api_key_env = "OZON_BAD"\n', "", {"OZON_BAD": "kеy-1"}, "accounts[0].api_key_env"),
    ("api_key with a space inside", ACCOUNT + 'api_key = "key 1"\n', "", {},
     "accounts[0].api_key"),
    ("keep_history of 27,000 years", ACCOUNT + GOOD_KEY, 'keep_history = "9999999d"', {},
     "daemon.keep_history"),
    ("keep_history over ten years", ACCOUNT + GOOD_KEY, 'keep_history = "3700d"', {},
     "daemon.keep_history"),
    ("remind_before of 2,700 years", ACCOUNT + GOOD_KEY
     + '[policy]\nremind_before = ["4h", "999999d"]\n', "", {}, "policy.remind_before[1]"),
    ("overdue_for of 8,000 years", ACCOUNT + GOOD_KEY
     + '[policy.cancel]\noverdue_for = "3000000d"\n', "", {}, "policy.cancel.overdue_for"),
    ("an account's own remind_before too long", ACCOUNT + GOOD_KEY
     + '[accounts.policy]\nremind_before = ["400d"]\n', "", {},
     "accounts[0].policy.remind_before[0]"),
    ("poll_interval beyond a timedelta", ACCOUNT + GOOD_KEY, 'poll_interval = "999999999d"', {},
     "daemon.poll_interval"),
    ("poll_interval beyond any number", ACCOUNT + GOOD_KEY, 'poll_interval = "99999999999d"', {},
     "daemon.poll_interval"),
    ("a duration with thousands of digits", ACCOUNT + GOOD_KEY,
     f'poll_interval = "{"9" * 5000}s"', {}, "daemon.poll_interval"),
    ("a time zone that is a folder", ACCOUNT + GOOD_KEY, 'timezone = "America"', {},
     "daemon.timezone"),
    ("a time zone that is a data file", ACCOUNT + GOOD_KEY, 'timezone = "zone.tab"', {},
     "daemon.timezone"),
    ("a database path with a NUL", ACCOUNT + GOOD_KEY, 'database = "state\\u0000.db"', {},
     "daemon.database"),
    ("a heartbeat URL that is not http(s)", ACCOUNT + GOOD_KEY
     + f'[health]\nheartbeat_url = "hc-ping.com/{SECRET}"\n', "", {}, "health.heartbeat_url"),
    ("a listen host that is not a host name", ACCOUNT + GOOD_KEY
     + '[health]\nlisten = "local host:9464"\n', "", {}, "health.listen"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "daemon", "env", "path"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_check_offline_refuses_what_a_later_command_could_not_use(
    tmp_path: Path, body: str, daemon: str, env: dict[str, str], path: str
) -> None:
    result = check_offline(tmp_path, body, daemon, **env)
    assert_config_error(result, path)
    assert_no_secret(result)
    assert "key-1" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command", [["status"], ["history"], ["once"]], ids=["status", "history", "once"]
)
def test_every_command_refuses_what_check_refuses(tmp_path: Path, command: list[str]) -> None:
    config = write_config(tmp_path, ACCOUNT + GOOD_KEY, 'timezone = "America"')
    result = run_cli("--config", str(config), *command, env=clean_env(OZON_KEY="key-1"))
    assert_config_error(result, "daemon.timezone")


def test_a_key_read_from_a_file_or_credential_loses_its_surrounding_whitespace(
    tmp_path: Path,
) -> None:
    (tmp_path / "key").write_text("  key-1\n\n", encoding="utf-8")
    (tmp_path / "shop-2").write_text("key-2\r\n", encoding="utf-8")
    body = (
        ACCOUNT + f'api_key_file = "{tmp_path / "key"}"\nwarehouse_ids = [1]\n'
        + ACCOUNT.replace("shop-1", "shop-2") + 'api_key_credential = "shop-2"\n'
        + "warehouse_ids = [2]\n"
    )  # fmt: skip
    result = check_offline(tmp_path, body, CREDENTIALS_DIRECTORY=str(tmp_path))
    assert result.returncode == 0, explain(result)
    assert "config is valid" in result.stdout


def test_a_key_file_with_a_letter_outside_ascii_exits_78(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(f"{SECRET}é\n", encoding="utf-8")
    result = check_offline(tmp_path, ACCOUNT + f'api_key_file = "{tmp_path / "key"}"\n')
    assert_config_error(result, "accounts[0].api_key_file")
    assert_no_secret(result)


def test_the_longest_durations_allowed_are_accepted(tmp_path: Path) -> None:
    body = ACCOUNT + GOOD_KEY + '[policy]\nremind_before = ["366d"]\n'
    result = check_offline(tmp_path, body, 'keep_history = "3650d"\npoll_interval = "366d"')
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["history", "--limit", "99999999999999999999"], "--limit"),
        (["hold", "12345678-0001-1", "--for", "99999999999d"], "--for"),
        (["hold", "12345678-0001-1", "--for", "400d"], "--for"),
        (["sandbox", "--port", "99999"], "--port"),
        (["demo", "--timezone", "America"], "--timezone"),
    ],
    ids=[
        "history --limit beyond any number",
        "hold --for beyond a timedelta",
        "hold --for 400d",
        "sandbox --port beyond 65535",
        "demo --timezone that is a folder",
    ],
)
def test_command_line_values_out_of_range_exit_2_with_one_line(
    tmp_path: Path, args: list[str], option: str
) -> None:
    config = write_config(tmp_path, ACCOUNT + GOOD_KEY)
    result = run_cli("--config", str(config), *args, env=clean_env(), timeout=60)
    assert result.returncode == 2, explain(result)
    assert "Traceback" not in result.stderr
    last = last_stderr_line(result)
    assert option in last, last


# ---------------------------------------------------------------- 15.3: one Client-Id, two entries


def account(name: str, client_id: str, warehouses: str | None) -> str:
    lines = f'\n[[accounts]]\nname = "{name}"\nclient_id = {client_id}\n{GOOD_KEY}'
    return lines + (f"warehouse_ids = {warehouses}\n" if warehouses is not None else "")


SHARED_CLIENT_IDS = [
    ("neither names warehouses", [("a", '"777"', None), ("b", '"777"', None)],
     "accounts[1].client_id"),
    ("one names no warehouses", [("a", '"777"', "[1, 2]"), ("b", '"777"', None)],
     "accounts[1].client_id"),
    ("the first names no warehouses", [("a", '"777"', None), ("b", '"777"', "[1]")],
     "accounts[0].client_id"),
    ("an empty list of warehouses", [("a", '"777"', "[]"), ("b", '"777"', "[3]")],
     "accounts[0].client_id"),
    ("a warehouse in both", [("a", '"777"', "[1, 2]"), ("b", '"777"', "[2, 3]")],
     "accounts[1].warehouse_ids"),
    ("the same id written as a number", [("a", "777", None), ("b", '"777"', None)],
     "accounts[1].client_id"),
    ("a third entry overlapping the first", [("a", '"777"', "[1]"), ("b", '"777"', "[2]"),
     ("c", '"777"', "[3, 1]")], "accounts[2].warehouse_ids"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("entries", "path"),
    [case[1:] for case in SHARED_CLIENT_IDS],
    ids=[case[0] for case in SHARED_CLIENT_IDS],
)
def test_two_entries_share_a_client_id_only_to_split_one_shop_by_warehouse(
    tmp_path: Path, entries: list[tuple[str, str, str | None]], path: str
) -> None:
    body = "".join(account(*entry) for entry in entries)
    assert_config_error(check_offline(tmp_path, body), path)
    config = tmp_path / "config.toml"
    status = run_cli("--config", str(config), "status", env=clean_env())
    assert_config_error(status, path)


def test_a_shop_split_by_warehouse_and_other_shops_are_accepted(tmp_path: Path) -> None:
    body = (
        account("north", '"777"', "[1, 2]")
        + account("south", "777", "[3]")
        + account("other", '"778"', None)
        + account("third", '"779"', "[1]")
    )
    result = check_offline(tmp_path, body)
    assert result.returncode == 0, explain(result)


def test_a_config_nested_deeper_than_the_parser_goes_exits_78(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = run_cli("--config", str(path), "check", "--offline", env=clean_env())
    assert_config_error(result, "nested too deeply")
    assert len(result.stderr) < 5000, "no traceback of thousands of frames"


@pytest.mark.parametrize(
    ("account", "env", "path"),
    [
        (ACCOUNT + 'api_key_env = "OZON_BAD"\n', {"OZON_BAD": "key-1 "}, "accounts[0].api_key_env"),
        (ACCOUNT.replace('"123456"', '" 123456"') + GOOD_KEY, {}, "accounts[0].client_id"),
    ],
    ids=["a key with a trailing space", "a client_id with a leading space"],
)
def test_once_refuses_a_value_no_http_header_can_carry_with_78_not_a_crash(
    tmp_path: Path, account: str, env: dict[str, str], path: str
) -> None:
    # nothing listens on port 9: had the value passed, `once` would fail with 75, not crash
    body = account + '[ozon]\nbase_url = "http://127.0.0.1:9"\nretry_for = "0s"\n'
    config = write_config(tmp_path, body)
    result = run_cli("--config", str(config), "once", env=clean_env(OZON_KEY="key-1", **env))
    assert_config_error(result, path)
    assert "key-1 " not in result.stdout + result.stderr
