"""`[policy.cancel] reason_ids` (issue 23 point 3): an ordered list of acceptable cancel
reasons, the first one Ozon allows for a posting is sent; `reason_id` stays valid; setting
both in one table is a config error naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.config import ConfigError, parse_config

ACCOUNTS = [
    {"name": "shop-1", "client_id": "1", "api_key_env": "K"},
    {"name": "shop-2", "client_id": "2", "api_key_env": "K"},
]


def reasons(cancel: dict[str, Any], own: dict[str, Any] | None = None) -> list[tuple[int, ...]]:
    accounts = [dict(a) for a in ACCOUNTS]
    if own is not None:
        accounts[1]["policy"] = {"cancel": own}
    config = parse_config({"accounts": accounts, "policy": {"cancel": cancel}})
    return [config.rules_for(account).cancel.reasons for account in config.accounts]


@pytest.mark.parametrize(
    ("cancel", "own", "expected"),
    [
        ({}, None, [(402,), (402,)]),
        ({"reason_id": 352}, None, [(352,), (352,)]),
        ({"reason_ids": [402, 352]}, None, [(402, 352), (402, 352)]),
        ({"reason_ids": [402, 352, 402]}, None, [(402, 352), (402, 352)]),
        ({"reason_ids": [402, 352]}, {"reason_id": 400}, [(402, 352), (400,)]),
        ({"reason_id": 400}, {"reason_ids": [352, 400]}, [(400,), (352, 400)]),
    ],
    ids=[
        "the default",
        "reason_id alone",
        "reason_ids in order",
        "a repeated reason once",
        "an account's reason_id replaces the inherited list",
        "an account's list replaces the inherited reason_id",
    ],
)
def test_the_reasons_tried_in_order(
    cancel: dict[str, Any], own: dict[str, Any] | None, expected: list[tuple[int, ...]]
) -> None:
    assert reasons(cancel, own) == expected


@pytest.mark.parametrize(
    ("cancel", "own", "named"),
    [
        ({"reason_id": 402, "reason_ids": [402, 352]}, None, "policy.cancel.reason_ids"),
        ({}, {"reason_id": 402, "reason_ids": [352]}, "accounts[1].policy.cancel.reason_ids"),
        ({"reason_ids": []}, None, "policy.cancel.reason_ids"),
        ({"reason_ids": [0]}, None, "policy.cancel.reason_ids[0]"),
        ({"reason_ids": [1.5]}, None, "policy.cancel.reason_ids[0]"),
        ({"reason_ids": [352, 402], "reason_message": " "}, None, "policy.cancel.reason_message"),
    ],
    ids=[
        "both in [policy.cancel]",
        "both in an account's table",
        "an empty list",
        "a reason that is not positive",
        "a reason that is not a whole number",
        "402 in the list needs a message",
    ],
)
def test_a_bad_reason_list_is_a_config_error_naming_the_key(
    cancel: dict[str, Any], own: dict[str, Any] | None, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        reasons(cancel, own)
    assert named in str(caught.value)


def test_setting_both_says_which_to_keep() -> None:
    with pytest.raises(ConfigError) as caught:
        reasons({"reason_id": 402, "reason_ids": [402]})
    assert "either reason_id" in str(caught.value) and "not both" in str(caught.value)
