"""Config: defaults, per-account overrides, every bad input with its own exact message, secrets."""

from __future__ import annotations

import textwrap
from dataclasses import fields
from datetime import time, timedelta
from pathlib import Path

import pytest

from daemon.config import (
    CancelOverride,
    CancelSection,
    ConfigError,
    default_config_path,
    load_config,
    resolve_secrets,
)
from daemon.models import REASON_NEEDING_MESSAGE, cancel_message_problem
from daemon.policy_rules import CancelRules
from daemon.secrets import Secret
from tests.conftest import REPO_ROOT

MINIMAL = """
[[accounts]]
name = "shop-1"
client_id = "123456"
api_key_env = "OZON_SHOP1_KEY"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_example_config_loads_with_every_default() -> None:
    config = load_config(REPO_ROOT / "config.example.toml")
    assert config.daemon.database == "/var/lib/ozon-sync/ozon-sync.db"
    assert config.daemon.poll_interval == timedelta(minutes=5)
    assert config.daemon.timezone == "Europe/Moscow"
    assert config.daemon.language == "en"
    assert config.daemon.digest_at == time(9, 0)
    assert config.daemon.keep_history == timedelta(days=90)
    assert config.ozon.base_url == "https://api-seller.ozon.ru"
    assert config.ozon.max_requests_per_second == 20
    assert config.policy.remind_before == [timedelta(hours=h) for h in (24, 4, 1)]
    assert config.policy.cancel.enabled is False
    assert config.policy.cancel.reason_id == 402
    assert config.accounts[0].api_key_env == "OZON_SHOP1_KEY"
    assert config.notify == []


def test_example_config_documents_every_key() -> None:
    text = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
    keys = [
        "database", "poll_interval", "timezone", "language", "log_format", "log_level",
        "digest_at", "keep_history", "base_url", "timeout", "retry_for",
        "max_requests_per_second", "name", "client_id", "api_key_env", "api_key_file",
        "api_key_credential", "api_key", "warehouse_ids", "watch_statuses", "remind_before",
        "overdue_repeat", "enabled", "overdue_for", "statuses", "reason_id", "reason_message",
        "max_per_cycle", "max_share", "url", "url_env", "url_file", "url_credential", "events",
        "accounts", "quiet_hours", "listen", "heartbeat_url", "heartbeat_url_env",
        "[accounts.policy]", "[policy.cancel]",
    ]  # fmt: skip
    missing = [key for key in keys if key not in text]
    assert missing == []


def test_minimal_config_takes_contract_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    rules = config.rules_for(config.accounts[0])
    assert rules.watch_statuses == {"awaiting_packaging", "awaiting_deliver"}
    assert rules.remind_before == (timedelta(hours=24), timedelta(hours=4), timedelta(hours=1))
    assert rules.overdue_repeat == timedelta(hours=12)
    assert rules.cancel.overdue_for == timedelta(hours=48)
    assert rules.cancel.statuses == {"awaiting_packaging"}
    assert rules.cancel.max_per_cycle == 5
    assert rules.cancel.max_share == pytest.approx(0.2)


def test_account_policy_overrides_merge_over_the_global_policy(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            MINIMAL
            + """
            [accounts.policy]
            remind_before = ["2h"]
            [accounts.policy.cancel]
            enabled = true

            [[accounts]]
            name = "shop-2"
            client_id = "2"
            api_key_env = "K2"

            [policy]
            overdue_repeat = "6h"
            [policy.cancel]
            max_per_cycle = 2
            """,
        )
    )
    first = config.rules_for(config.accounts[0])
    second = config.rules_for(config.accounts[1])
    assert first.remind_before == (timedelta(hours=2),)
    assert first.cancel.enabled is True
    assert first.overdue_repeat == timedelta(hours=6)  # from [policy], not overridden
    assert first.cancel.max_per_cycle == 2  # merged key by key inside [policy.cancel]
    assert second.remind_before == (timedelta(hours=24), timedelta(hours=4), timedelta(hours=1))
    assert second.cancel.enabled is False


def test_an_account_override_of_any_cancel_key_builds_its_rules(tmp_path: Path) -> None:
    """Every [policy.cancel] key can be overridden per account, durations included (they were
    merged in their serialized form, "50h", and building the rules crashed)."""
    config = load_config(
        write(
            tmp_path,
            MINIMAL
            + """
            [accounts.policy.cancel]
            enabled = true
            overdue_for = "50h"
            statuses = ["awaiting_packaging", "awaiting_deliver"]
            reason_id = 352
            reason_message = ""
            max_per_cycle = 1
            max_share = 0.5
            """,
        )
    )
    cancel = config.rules_for(config.accounts[0]).cancel
    assert cancel == CancelRules(
        enabled=True,
        overdue_for=timedelta(hours=50),
        statuses=frozenset({"awaiting_packaging", "awaiting_deliver"}),
        reason_id=352,
        reason_message="",
        max_per_cycle=1,
        max_share=0.5,
    )


def test_the_cancel_settings_are_defined_once_with_their_defaults() -> None:
    """[policy.cancel], its per-account override and the policy's CancelRules name the same
    settings, with the policy's defaults; the override sets none of them by itself."""
    rules = {f.name: f.default for f in fields(CancelRules)}
    assert set(CancelSection.model_fields) == set(CancelOverride.model_fields) == set(rules)
    section = CancelSection()
    assert section.cancel_rules() == CancelRules()
    assert CancelOverride().model_dump() == dict.fromkeys(rules)


def test_the_reason_message_rule_is_the_one_the_ozon_client_applies() -> None:
    assert cancel_message_problem(REASON_NEEDING_MESSAGE, " ") is not None
    assert cancel_message_problem(352, "") is None
    with pytest.raises(ValueError, match="reason_message must not be empty"):
        CancelRules(reason_message=" ")


BAD_INPUTS = [
    (
        "unknown key",
        MINIMAL + "[daemon]\npoll_intervall = '5m'\n",
        ["daemon.poll_intervall: unknown key"],
    ),
    (
        "unknown key in an account",
        MINIMAL + "api_kee = 'x'\n",
        ["accounts[0].api_kee: unknown key"],
    ),
    (
        "bad duration in a list",
        MINIMAL + "[policy]\nremind_before = ['24h', '4x']\n",
        ['policy.remind_before[1]: "4x" is not a duration (use e.g. "90s", "5m", "1h30m", "2d")'],
    ),
    (
        "duration under its lower bound",
        MINIMAL + "[daemon]\npoll_interval = '5s'\n",
        ['daemon.poll_interval: "5s" is below the minimum of "10s"'],
    ),
    (
        "bad zone",
        MINIMAL + "[daemon]\ntimezone = 'Mars/Olympus'\n",
        [
            'daemon.timezone: unknown time zone "Mars/Olympus" '
            "(use an IANA name such as Asia/Shanghai)"
        ],
    ),
    (
        "two secret sources for one account",
        MINIMAL + "api_key_file = '/etc/key'\n",
        [
            'accounts[0]: account "shop-1" sets api_key_env and api_key_file; '
            "set exactly one API key source"
        ],
    ),
    (
        "no secret source",
        "[[accounts]]\nname = 'a'\nclient_id = '1'\n",
        [
            'accounts[0]: account "a" sets no API key; set one of api_key_env, api_key_file, '
            "api_key_credential, api_key"
        ],
    ),
    (
        "duplicate names",
        MINIMAL + MINIMAL.replace("123456", "654321"),
        ['accounts[1].name: duplicate account name "shop-1" (also accounts[0])'],
    ),
    (
        "empty 402 message",
        MINIMAL + "[policy.cancel]\nreason_message = ''\n",
        ["policy.cancel.reason_message: must not be empty when reason_id is 402"],
    ),
    (
        "empty 402 message in an account override",
        MINIMAL + "[accounts.policy.cancel]\nreason_message = '  '\n",
        ["accounts[0].policy.cancel.reason_message: must not be empty when reason_id is 402"],
    ),
    (
        "bad language",
        MINIMAL + "[daemon]\nlanguage = 'de'\n",
        ["daemon.language: \"de\" is not one of 'en', 'zh' or 'ru'"],
    ),
    (
        "bad quiet hours",
        MINIMAL + "[[notify]]\nurl = 'json://127.0.0.1/x'\nquiet_hours = '22-08'\n",
        ['notify[0].quiet_hours: "22-08" is not a window such as "22:00-08:00" or "calendar:NAME"'],
    ),
    (
        "unknown event in a route",
        MINIMAL + "[[notify]]\nurl = 'json://127.0.0.1/x'\nevents = ['overdue', 'late']\n",
        [
            'notify[0].events: unknown event "late" (known: reminder, overdue, would_cancel, '
            "cancelled, cancel_failed, deadline_changed, cancelled_elsewhere, api_error, "
            "recovered, key_expiring, digest, at_risk, tariff_step, needs_data, "
            "database_unwritable)"
        ],
    ),
    (
        "route naming an unknown account",
        MINIMAL + "[[notify]]\nurl = 'json://127.0.0.1/x'\naccounts = ['shop-9']\n",
        ['notify[0].accounts: no account is named "shop-9"'],
    ),
    (
        "no accounts",
        "[daemon]\nlanguage = 'en'\n",
        ["accounts: is required"],
    ),
    (
        "duration above its upper bound",
        MINIMAL + "[policy]\nremind_before = ['24h', '367d']\n",
        ['policy.remind_before[1]: "367d" is above the maximum of "366d"'],
    ),
    (
        "keep_history above ten years",
        MINIMAL + "[daemon]\nkeep_history = '9999999d'\n",
        ['daemon.keep_history: "9999999d" is above the maximum of "3653d"'],
    ),
    (
        "duration with more digits than any bound",
        MINIMAL + "[daemon]\npoll_interval = '99999999999999999999s'\n",
        ['daemon.poll_interval: "99999999999999999999s" is above the maximum of "366d"'],
    ),
    (
        "zone that is a folder of zones",
        MINIMAL + "[daemon]\ntimezone = 'America'\n",
        ['daemon.timezone: unknown time zone "America" (use an IANA name such as Asia/Shanghai)'],
    ),
    (
        "database path with a NUL",
        MINIMAL + "[daemon]\ndatabase = 'a\\u0000b'\n".replace("'", '"'),
        ["daemon.database: must be a file path (not empty, no NUL characters)"],
    ),
    (
        "client_id with a space",
        MINIMAL.replace('"123456"', '" 123456"'),
        [
            'accounts[0].client_id: " 123456" is not a Client-Id: use the number shown with the '
            "API key in the seller account (visible ASCII characters only, no spaces)"
        ],
    ),
    (
        "a secret written as a list",
        MINIMAL.replace('api_key_env = "OZON_SHOP1_KEY"', "api_key = ['sk-123']"),
        [
            "accounts[0].api_key: the value (not shown: it is secret): input should be a valid "
            "string"
        ],
    ),
    (
        "a key pasted where a variable is named",
        MINIMAL.replace("OZON_SHOP1_KEY", "0f3c9a1d-5b2e"),
        [
            "accounts[0].api_key_env: is not the name of an environment variable (letters, "
            "digits and _); name the variable that holds the secret, not the secret itself"
        ],
    ),
    (
        "listen on something that is not a host",
        MINIMAL + "[health]\nlisten = 'my host:9464'\n",
        ['health.listen: "my host:9464": "my host" is neither an IP address nor a host name'],
    ),
    (
        "listen on a port beyond 65535",
        MINIMAL + "[health]\nlisten = '127.0.0.1:65536'\n",
        ['health.listen: "127.0.0.1:65536" is not host:port such as "127.0.0.1:9464"'],
    ),
    (
        "base_url that cannot be parsed",
        MINIMAL + "[ozon]\nbase_url = 'http://[::1/x'\n",
        ['ozon.base_url: "http://[::1/x" is not a valid URL (its host or port cannot be read)'],
    ),
    (
        "two entries with one Client-Id and no warehouses",
        MINIMAL + MINIMAL.replace("shop-1", "shop-2"),
        [
            'accounts[0].client_id: Client-Id "123456" is also used by accounts[1]; entries may '
            "share a Client-Id only to split one shop by warehouse, each with its own "
            "warehouse_ids",
            'accounts[1].client_id: Client-Id "123456" is also used by accounts[0]; entries may '
            "share a Client-Id only to split one shop by warehouse, each with its own "
            "warehouse_ids",
        ],
    ),
    (
        "two entries with one Client-Id and one warehouse",
        MINIMAL
        + "warehouse_ids = [1, 2]\n"
        + MINIMAL.replace("shop-1", "shop-2")
        + "warehouse_ids = [3, 2]\n",
        [
            "accounts[1].warehouse_ids: warehouse 2 is also in accounts[0], which has the same "
            'Client-Id "123456"; each warehouse of a split shop belongs to one entry'
        ],
    ),
    (
        "share out of range",
        MINIMAL + "[policy.cancel]\nmax_share = 1.5\n",
        ["policy.cancel.max_share: 1.5: input should be less than or equal to 1"],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_each_bad_input_gives_its_own_exact_message(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert problems_of(tmp_path, text) == expected


def test_every_problem_is_collected_in_one_error(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        MINIMAL
        + MINIMAL.replace("123456", "654321")
        + "[daemon]\npoll_interval = '1s'\ntimezone = 'Nowhere'\n[policy]\ntypo = 1\n",
    )
    paths = [problem.split(":")[0] for problem in problems]
    assert sorted(paths) == sorted(
        ["daemon.poll_interval", "daemon.timezone", "policy.typo", "accounts[1].name"]
    )


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "[daemon]\npoll_interval = \n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:2:17: invalid TOML: Invalid value"]


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_config_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_config_path({}) == Path("/etc/ozon-sync/config.toml")
    (tmp_path / "config.toml").write_text("")
    assert default_config_path({}) == Path("config.toml")
    assert default_config_path({"OZON_SYNC_CONFIG": "/x.toml"}) == Path("/x.toml")


def test_config_lookup_skips_an_unreadable_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Path) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "is_file", denied)
    assert default_config_path({}) == Path("/etc/ozon-sync/config.toml")


def test_database_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "etc"
    sub.mkdir()
    relative = load_config(write(sub, MINIMAL + "[daemon]\ndatabase = 'state/x.db'\n"))
    assert relative.database_path({}) == sub / "state" / "x.db"
    absolute = load_config(write(sub, MINIMAL + "[daemon]\ndatabase = '/var/x.db'\n"))
    assert absolute.database_path({}) == Path("/var/x.db")
    unset = load_config(write(sub, MINIMAL))
    assert unset.database_path({"STATE_DIRECTORY": "/var/lib/ozon-sync:/other"}) == Path(
        "/var/lib/ozon-sync/ozon-sync.db"
    )
    assert unset.database_path({}) == tmp_path / "ozon-sync.db"


# ---------------------------------------------------------------- secrets


def test_secrets_come_from_env_file_credential_or_inline(tmp_path: Path) -> None:
    (tmp_path / "k2").write_text("key-two\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "shop-3").write_text("key-three")
    text = f"""
    [[accounts]]
    name = "a1"
    client_id = "1"
    api_key_env = "K1"
    [[accounts]]
    name = "a2"
    client_id = "2"
    api_key_file = "{tmp_path / "k2"}"
    [[accounts]]
    name = "a3"
    client_id = "3"
    api_key_credential = "shop-3"
    [[accounts]]
    name = "a4"
    client_id = 4
    api_key = "key-four"
    [[notify]]
    url_env = "ROUTE"
    """
    config = load_config(write(tmp_path, text))
    secrets = resolve_secrets(
        config,
        {"K1": "key-one", "CREDENTIALS_DIRECTORY": str(creds), "ROUTE": "tgram://123:tok/9"},
    )
    revealed = {name: secret.reveal() for name, secret in secrets.api_keys.items()}
    assert revealed == {"a1": "key-one", "a2": "key-two", "a3": "key-three", "a4": "key-four"}
    assert secrets.route_urls[0].reveal() == "tgram://123:tok/9"
    assert config.accounts[3].client_id == "4"


SECRET_PROBLEMS = [
    (
        "missing variable",
        "api_key_env = 'OZON_MISSING'",
        {},
        'accounts[0].api_key_env: the environment variable named for account "a" is not set',
    ),
    (
        "empty variable",
        "api_key_env = 'OZON_EMPTY'",
        {"OZON_EMPTY": ""},
        'accounts[0].api_key_env: the environment variable named for account "a" is empty',
    ),
    (
        "missing file",
        "api_key_file = '/nonexistent/key'",
        {},
        'accounts[0].api_key_file: the file named for account "a" does not exist',
    ),
    (
        "credential without systemd",
        "api_key_credential = 'a-key'",
        {},
        'accounts[0].api_key_credential: the systemd credential named for account "a" is not '
        "available ($CREDENTIALS_DIRECTORY is not set; use LoadCredential= in the unit)",
    ),
    (
        "missing credential",
        "api_key_credential = 'a-key'",
        {"CREDENTIALS_DIRECTORY": "/nonexistent"},
        'accounts[0].api_key_credential: the systemd credential named for account "a" does '
        "not exist",
    ),
]


@pytest.mark.parametrize(
    ("source", "env", "expected"),
    [c[1:] for c in SECRET_PROBLEMS],
    ids=[c[0] for c in SECRET_PROBLEMS],
)
def test_each_missing_secret_names_the_account_and_its_source(
    tmp_path: Path, source: str, env: dict[str, str], expected: str
) -> None:
    config = load_config(write(tmp_path, f"[[accounts]]\nname='a'\nclient_id='1'\n{source}\n"))
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(config, env)
    assert caught.value.problems == [expected]


def test_loading_a_config_never_reads_secrets(tmp_path: Path) -> None:
    # status/history/hold work on a server where the key exists only inside the systemd unit.
    config = load_config(write(tmp_path, MINIMAL))
    assert config.accounts[0].api_key_env == "OZON_SHOP1_KEY"


def test_secrets_never_show_in_repr_or_masked_config(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "[[accounts]]\nname='a'\nclient_id='1'\napi_key='inline-secret-key'\n"
            "[[notify]]\nurl='tgram://999:route-token-abc/42'\n",
        )
    )
    secrets = resolve_secrets(config, {})
    assert "inline-secret-key" not in repr(config)
    assert "route-token-abc" not in repr(config)
    assert "inline-secret-key" not in repr(secrets)
    assert "inline-secret-key" not in str(config.masked())
    assert "route-token-abc" not in str(config.masked())
    assert repr(Secret("x")) == "Secret('***')"
    assert str(Secret("x")) == "Secret('***')"


def test_a_shop_split_by_warehouse_loads(tmp_path: Path) -> None:
    text = (
        MINIMAL + "warehouse_ids = [1, 2]\n"
        + MINIMAL.replace("shop-1", "shop-2").replace('"123456"', "123456")
        + "warehouse_ids = [3]\n"
    )  # fmt: skip
    config = load_config(write(tmp_path, text))
    assert [account.client_id for account in config.accounts] == ["123456", "123456"]


UNUSABLE_SECRETS = [
    ("inline key with a trailing space", "api_key = 'key-1 '", {},
     'accounts[0].api_key: the API key of account "a" has whitespace around or inside it; '
     "remove it"),
    ("key in a variable with a letter outside ASCII", "api_key_env = 'K'", {"K": "kеy"},
     'accounts[0].api_key_env: the API key in the environment variable named for account "a" '
     "has a character that is not visible ASCII (Ozon API keys are Latin letters, digits and "
     "dashes); copy it again from the seller account"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "env", "expected"),
    [c[1:] for c in UNUSABLE_SECRETS],
    ids=[c[0] for c in UNUSABLE_SECRETS],
)
def test_a_key_no_http_header_can_carry_is_refused_without_showing_it(
    tmp_path: Path, source: str, env: dict[str, str], expected: str
) -> None:
    config = load_config(write(tmp_path, f"[[accounts]]\nname='a'\nclient_id='1'\n{source}\n"))
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(config, env)
    assert caught.value.problems == [expected]


def test_a_key_file_loses_its_surrounding_whitespace(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n  key-1 \r\n", encoding="utf-8")
    text = f"[[accounts]]\nname='a'\nclient_id='1'\napi_key_file='{tmp_path / 'key'}'\n"
    secrets = resolve_secrets(load_config(write(tmp_path, text)), {})
    assert secrets.api_keys["a"].reveal() == "key-1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("json://[host/hook", "is not a valid URL (its host or port cannot be read)"),
        ("tgram://token /42", "has whitespace or control characters in it"),
        ("hc-ping.com/abc", "is not a URL (scheme://...)"),
    ],
    ids=["unclosed bracket", "space inside", "no scheme"],
)
def test_a_url_no_route_can_use_is_refused_without_showing_it(
    tmp_path: Path, url: str, expected: str
) -> None:
    text = MINIMAL + "[[notify]]\nurl_env = 'ROUTE'\n"
    config = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(config, {"OZON_SHOP1_KEY": "key-1", "ROUTE": url})
    assert caught.value.problems == [
        "notify[0].url_env: the URL in the environment variable named for notification route 0 "
        + expected
    ]


def test_a_telegram_url_whose_token_looks_like_a_port_is_left_to_apprise(tmp_path: Path) -> None:
    text = MINIMAL + "[[notify]]\nurl = 'tgram://123456:AAE-token/42'\n"
    secrets = resolve_secrets(load_config(write(tmp_path, text)), {"OZON_SHOP1_KEY": "key-1"})
    assert secrets.route_urls[0].reveal() == "tgram://123456:AAE-token/42"


def test_a_heartbeat_url_must_be_http_with_a_host(tmp_path: Path) -> None:
    text = MINIMAL + "[health]\nheartbeat_url = 'ftp://hc-ping.com/abc'\n"
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(load_config(write(tmp_path, text)), {"OZON_SHOP1_KEY": "key-1"})
    assert caught.value.problems == [
        "health.heartbeat_url: the heartbeat URL of [health] is not an http(s) URL with a host"
    ]
