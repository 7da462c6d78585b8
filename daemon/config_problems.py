"""The problems of a config file: `ConfigError`, which carries them, and the checks that span
several keys (`cross_problems`), run on the raw TOML data so that they are reported together
with the problems of single keys (pydantic skips model validators after field errors).

Imports the standard library, `daemon.models` (the reason/message pairs Ozon accepts),
`daemon.policy_rules` (the defaults of `[policy.cancel]`) and `daemon.secrets` (the names of a
secret's sources); `daemon.config` and `daemon.config_secrets` import it, never the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.models import cancel_message_problem
from daemon.policy_rules import CancelRules
from daemon.secrets import source_names

_CANCEL = CancelRules()  # the defaults of [policy.cancel]: defined once, in the policy's rules


class ConfigError(Exception):
    """The config file cannot be used. `problems` holds one line per bad key, each starting with
    its dotted path; `str()` is a one-line summary naming every one of them."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"config {path}" if path else "config"
        super().__init__(f"{where} is invalid: " + "; ".join(problems))


def cross_problems(raw: Mapping[str, Any]) -> list[str]:
    """Checks that span several keys, run on the raw data so that they are reported together
    with the problems of single keys (pydantic skips model validators after field errors)."""
    problems: list[str] = []
    accounts = raw.get("accounts")
    accounts = accounts if isinstance(accounts, list) else []
    policy_raw = _subtable(raw, "policy")
    cancel_raw = _subtable(policy_raw, "cancel")
    seen: dict[str, int] = {}
    for index, account in enumerate(accounts):
        if not isinstance(account, dict):
            continue
        name = account.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    f'accounts[{index}].name: duplicate account name "{name}" '
                    f"(also accounts[{seen[name]}])"
                )
            seen.setdefault(name, index)
        sources = {k: v for k, v in source_names("api_key").items() if account.get(v) is not None}
        if len(sources) != 1:
            problems.append(f"accounts[{index}]: {_sources_problem(str(name), sources)}")
        own_cancel = _subtable(_subtable(account, "policy"), "cancel")
        if "reason_id" in own_cancel and "reason_ids" in own_cancel:
            problems.append(f"accounts[{index}].policy.cancel.reason_ids: {_BOTH_REASONS}")
        merged = {"reason_id": _CANCEL.reason_id, "reason_message": _CANCEL.reason_message}
        merged.update({k: v for k, v in cancel_raw.items() if k in (*merged, "reason_ids")})
        if "reason_id" in own_cancel:
            merged.pop("reason_ids", None)
        merged.update({k: v for k, v in own_cancel.items() if k in (*merged, "reason_ids")})
        message = merged["reason_message"]
        wanted = merged.get("reason_ids", [merged["reason_id"]])
        problem = next(
            (
                found
                for reason_id in (wanted if isinstance(wanted, list) else [])
                if isinstance(reason_id, int) and isinstance(message, str)
                and (found := cancel_message_problem(reason_id, message)) is not None
            ),
            None,
        )  # fmt: skip
        if problem is not None:
            where = (
                f"accounts[{index}].policy.cancel.reason_message"
                if {"reason_message", "reason_id", "reason_ids"} & set(own_cancel)
                else "policy.cancel.reason_message"
            )
            problems.append(f"{where}: {problem}")
    if "reason_id" in cancel_raw and "reason_ids" in cancel_raw:
        problems.append(f"policy.cancel.reason_ids: {_BOTH_REASONS}")
    routes = raw.get("notify")
    for index, route in enumerate(routes if isinstance(routes, list) else []):
        if not isinstance(route, dict):
            continue
        sources = {k: v for k, v in source_names("url").items() if route.get(v) is not None}
        if len(sources) != 1:
            problems.append(f"notify[{index}]: {_route_sources_problem(sources)}")
        names = route.get("accounts")
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str) and name not in seen:
                problems.append(f'notify[{index}].accounts: no account is named "{name}"')
    health = _subtable(raw, "health")
    beats = [v for v in source_names("heartbeat_url").values() if health.get(v) is not None]
    if len(beats) > 1:
        problems.append("health: set at most one of " + ", ".join(beats))
    return list(dict.fromkeys(problems))  # the same reason problem once, not once per account


_BOTH_REASONS = (
    "set either reason_id (one reason) or reason_ids (a list, the first one Ozon allows for a "
    "posting is used), not both"
)


def _subtable(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _sources_problem(name: str, sources: dict[str, str]) -> str:
    if not sources:
        return (
            f'account "{name}" sets no API key; set one of api_key_env, api_key_file, '
            "api_key_credential, api_key"
        )
    return f'account "{name}" sets {" and ".join(sources.values())}; set exactly one API key source'


def _route_sources_problem(sources: dict[str, str]) -> str:
    if not sources:
        return "sets no URL; set one of url, url_env, url_file, url_credential"
    return f"sets {' and '.join(sources.values())}; set exactly one URL source"
