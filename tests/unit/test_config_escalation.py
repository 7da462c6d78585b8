"""`[policy] escalate_after` and `[[notify]] level` (issue 18.3): the rules they build, and
every bad value named by its dotted path (what `check --offline` refuses, nothing later can
trip over)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from daemon.policy_rules import Rules

ACCOUNT = """
[[accounts]]
name = "shop-1"
client_id = "123456"
api_key_env = "OZON_SHOP1_KEY"
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_escalation_is_off_and_routes_are_level_0_by_default(tmp_path: Path) -> None:
    config = load(tmp_path, ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\n')
    assert config.rules_for(config.accounts[0]).escalate_after == ()
    assert Rules().escalate_after == ()
    assert config.notify[0].level == 0


def test_escalate_after_and_levels_build_the_rules_and_routes(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[policy]\nescalate_after = ["30m", "2h"]\n'
        + ACCOUNT
        + '[[notify]]\nurl = "json://127.0.0.1:1/"\n'
        + '[[notify]]\nurl = "json://127.0.0.1:2/"\nlevel = 1\n'
        + '[[notify]]\nurl = "json://127.0.0.1:3/"\nlevel = 2\n',
    )
    rules = config.rules_for(config.accounts[0])
    assert rules.escalate_after == (timedelta(minutes=30), timedelta(hours=2))
    assert [route.level for route in config.notify] == [0, 1, 2]
    assert config.masked()["policy"]["escalate_after"] == ["30m", "2h"]


def test_an_account_may_escalate_on_its_own_ladder(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[policy]\nescalate_after = ["30m", "2h"]\n'
        + ACCOUNT
        + '[accounts.policy]\nescalate_after = ["10m"]\n'
        + '[[accounts]]\nname = "shop-2"\nclient_id = "654321"\napi_key_env = "K2"\n',
    )
    first, second = (config.rules_for(account) for account in config.accounts)
    assert first.escalate_after == (timedelta(minutes=10),)
    assert second.escalate_after == (timedelta(minutes=30), timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[policy]\nescalate_after = ["2h", "30m"]\n' + ACCOUNT,
         "policy.escalate_after: must grow: level 2 comes later than level 1"),
        ('[policy]\nescalate_after = ["30m", "30m"]\n' + ACCOUNT,
         "policy.escalate_after: must grow"),
        ('[policy]\nescalate_after = ["10m", "20m", "30m"]\n' + ACCOUNT,
         "policy.escalate_after: has 3 durations; give at most 2"),
        ('[policy]\nescalate_after = ["0s"]\n' + ACCOUNT,
         'policy.escalate_after[0]: "0s" is below the minimum'),
        ('[policy]\nescalate_after = ["soon"]\n' + ACCOUNT,
         "policy.escalate_after[0]:"),
        ('[policy]\nescalate_after = "30m"\n' + ACCOUNT,
         "policy.escalate_after:"),
        (ACCOUNT + '[accounts.policy]\nescalate_after = ["1h", "1h"]\n',
         "accounts[0].policy.escalate_after: must grow"),
        (ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = 3\n',
         "notify[0].level: 3 is not an escalation level"),
        (ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = -1\n',
         "notify[0].level: -1 is not an escalation level"),
        (ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = "1"\n',
         'notify[0].level: "1" is not an escalation level'),
        (ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = true\n',
         "notify[0].level: True is not an escalation level"),
        (ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = 1.0\n',
         "notify[0].level: 1.0 is not an escalation level"),
    ],
    ids=["shrinking", "equal", "three", "zero", "not a duration", "not a list",
         "account override", "level 3", "level -1", "level text", "level bool", "level float"],
)  # fmt: skip
def test_each_bad_escalation_value_is_named_by_its_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    found = problems(tmp_path, text)
    assert any(problem.startswith(expected) for problem in found), found


def test_rules_refuse_a_ladder_the_config_would_refuse() -> None:
    with pytest.raises(ValueError, match="escalate_after must grow"):
        Rules(escalate_after=(timedelta(hours=2), timedelta(minutes=30)))
    with pytest.raises(ValueError, match="at most 2"):
        Rules(escalate_after=(timedelta(minutes=1),) * 3)


def test_check_warns_about_a_ladder_that_leads_nowhere(tmp_path: Path) -> None:
    from daemon.checks import escalation_warnings

    lonely = load(
        tmp_path,
        '[policy]\nescalate_after = ["30m", "2h"]\n'
        + ACCOUNT
        + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = 1\n',
    )
    assert escalation_warnings(lonely) == [
        "policy.escalate_after reaches level 2, but no [[notify]] route has level = 2: those "
        "escalations only go to the log"
    ]
    unreached = load(tmp_path, ACCOUNT + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = 1\n')
    assert escalation_warnings(unreached) == [
        "notify[0].level = 1, but no account's escalate_after reaches that level: this route "
        "gets nothing"
    ]
    fine = load(
        tmp_path,
        '[policy]\nescalate_after = ["30m"]\n'
        + ACCOUNT
        + '[[notify]]\nurl = "json://127.0.0.1:1/"\n'
        + '[[notify]]\nurl = "json://127.0.0.1:1/"\nlevel = 1\n',
    )
    assert escalation_warnings(fine) == []
