"""Config keys of issue 20: `[policy] tariff_warn_before` and `[policy.cancel] respect_advice`
(CONTRACT section 7): defaults, per-account overrides, bad values by dotted path."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from tests.conftest import REPO_ROOT

MINIMAL = """
[[accounts]]
name = "shop-1"
client_id = "123456"
api_key_env = "OZON_SHOP1_KEY"
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_defaults_are_two_hours_and_respecting_the_advice(tmp_path: Path) -> None:
    config = load_config(REPO_ROOT / "config.example.toml")
    assert config.policy.tariff_warn_before == timedelta(hours=2)
    assert config.policy.cancel.respect_advice is True
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    minimal = load_config(path)
    assert minimal.policy.tariff_warn_before == timedelta(hours=2)
    assert minimal.policy.cancel.respect_advice is True


def test_zero_turns_tariff_warnings_off_and_accounts_override_both(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        MINIMAL
        + """
[policy]
tariff_warn_before = "0s"

[policy.cancel]
respect_advice = false

[[accounts]]
name = "shop-2"
client_id = "654321"
api_key_env = "OZON_SHOP2_KEY"
[accounts.policy]
tariff_warn_before = "1h30m"
[accounts.policy.cancel]
respect_advice = true
""",
        encoding="utf-8",
    )
    config = load_config(path)
    first, second = (config.policy_section_for(account) for account in config.accounts)
    assert (first.tariff_warn_before, first.cancel.respect_advice) == (timedelta(0), False)
    assert (second.tariff_warn_before, second.cancel.respect_advice) == (
        timedelta(hours=1, minutes=30),
        True,
    )


@pytest.mark.parametrize(
    ("table", "line", "path"),
    [
        ("[policy]", 'tariff_warn_before = "soon"', "policy.tariff_warn_before"),
        ("[policy]", "tariff_warn_before = 7200", "policy.tariff_warn_before"),
        ("[policy]", 'tariff_warn_before = "-1h"', "policy.tariff_warn_before"),
        ("[policy.cancel]", 'respect_advice = "maybe"', "policy.cancel.respect_advice"),
        ("[policy.cancel]", "respect_adivce = true", "policy.cancel.respect_adivce"),
        (
            "[accounts.policy]",
            'tariff_warn_before = "2 hours"',
            "accounts[0].policy.tariff_warn_before",
        ),
    ],
    ids=["not-a-duration", "a-number", "negative", "not-a-bool", "typo", "account-override"],
)
def test_bad_values_are_named_by_their_dotted_path(
    tmp_path: Path, table: str, line: str, path: str
) -> None:
    problems = problems_of(tmp_path, MINIMAL + f"\n{table}\n{line}\n")
    assert any(problem.startswith(path) for problem in problems), problems
