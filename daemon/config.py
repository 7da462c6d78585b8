"""The config file: TOML -> validated pydantic models, durations, secrets.

Loading is two steps, so that commands which only read the local database never touch a secret:

1. `load_config(path)` parses and validates the file. Every problem is collected and named by its
   dotted path (`policy.remind_before[1]`); a `ConfigError` carries all of them.
2. `resolve_secrets(config)` reads the API keys and notification URLs from exactly one source each
   (environment, file, systemd credential, inline). Only commands that talk to Ozon or to the
   notification routes call it. Secrets are `Secret` objects whose repr never shows the value.

This module imports pydantic, the standard library, `daemon.durations` and `daemon.policy` (to
build the policy rules); never the store, the Ozon client or the CLI.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from daemon.calendars import CalendarSection, calendar_problems, quiet_calendar_name
from daemon.durations import format_duration, parse_duration
from daemon.policy import CancelRules, Rules
from daemon.secrets import Secret, read_secret, reason, set_sources, source_names
from daemon.web.settings import BoardSection

__all__ = [
    "EVENTS",
    "Account",
    "Config",
    "ConfigError",
    "NotifyRoute",
    "ResolvedSecrets",
    "Secret",
    "default_config_path",
    "load_config",
    "resolve_secrets",
]

DEFAULT_BASE_URL = "https://api-seller.ozon.ru"
DEFAULT_DATABASE_NAME = "ozon-sync.db"
SYSTEM_CONFIG_PATH = Path("/etc/ozon-sync/config.toml")

EVENTS: tuple[str, ...] = (
    "reminder",
    "overdue",
    "would_cancel",
    "cancelled",
    "cancel_failed",
    "deadline_changed",
    "cancelled_elsewhere",
    "api_error",
    "recovered",
    "key_expiring",
    "digest",
)


class ConfigError(Exception):
    """The config file cannot be used. `problems` holds one line per bad key, each starting with
    its dotted path; `str()` is a one-line summary naming every one of them."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"config {path}" if path else "config"
        super().__init__(f"{where} is invalid: " + "; ".join(problems))


# ---------------------------------------------------------------- field types with clear errors


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "duration", 'must be a duration string such as "90s", "5m", "1h30m" or "2d"'
        )
    parsed = parse_duration(value)
    if parsed is None:
        raise PydanticCustomError(
            "duration",
            '"{value}" is not a duration (use e.g. "90s", "5m", "1h30m", "2d")',
            {"value": value},
        )
    return parsed


def _at_least(minimum: str) -> AfterValidator:
    bound = parse_duration(minimum)
    assert bound is not None  # noqa: S101 - a constant in this module

    def check(value: timedelta) -> timedelta:
        if value < bound:
            raise PydanticCustomError(
                "duration_too_short",
                '"{value}" is below the minimum of "{minimum}"',
                {"value": format_duration(value), "minimum": minimum},
            )
        return value

    return AfterValidator(check)


_serialize_duration = PlainSerializer(format_duration, return_type=str)
Duration = Annotated[timedelta, BeforeValidator(_duration), _serialize_duration]


def DurationAtLeast(minimum: str) -> Any:
    """A duration field that must not be shorter than `minimum`."""
    return Annotated[timedelta, BeforeValidator(_duration), _at_least(minimum), _serialize_duration]


def _zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PydanticCustomError(
            "timezone", "must be an IANA time zone name such as Asia/Shanghai"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            'unknown time zone "{value}" (use an IANA name such as Asia/Shanghai)',
            {"value": value},
        ) from None
    return value


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "clock_time", '"{value}" is not a time of day such as "09:00"', {"value": value}
        )
    return time(int(match[1]), int(match[2]))


ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]


def _quiet_hours(value: Any) -> tuple[time, time] | str:
    if isinstance(value, tuple):
        return value
    if quiet_calendar_name(value):  # "calendar:NAME": the name is checked by calendar_problems
        return str(value)
    parts = value.split("-") if isinstance(value, str) else []
    matches = [_CLOCK.match(part.strip()) for part in parts]
    if len(parts) != 2 or not all(matches):
        raise PydanticCustomError(
            "quiet_hours",
            '"{value}" is not a window such as "22:00-08:00" or "calendar:NAME"',
            {"value": value},
        )
    start, end = (_clock_time(part.strip()) for part in parts)
    if start == end:
        raise PydanticCustomError("quiet_hours", '"{value}" is an empty window', {"value": value})
    return start, end


QuietHours = Annotated[
    tuple[time, time] | str,
    BeforeValidator(_quiet_hours),
    PlainSerializer(lambda w: w if isinstance(w, str) else f"{w[0]:%H:%M}-{w[1]:%H:%M}", str),
]


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise PydanticCustomError("url", '"{value}" is not an http(s) URL', {"value": str(value)})
    return value.rstrip("/")


def _listen(value: Any) -> str:
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PydanticCustomError(
            "listen", '"{value}" is not host:port such as "127.0.0.1:9464"', {"value": value}
        )
    return str(value)


def _known(kind: str, allowed: tuple[str, ...]) -> AfterValidator:
    def check(values: list[str]) -> list[str]:
        for item in values:
            if item not in allowed:
                raise PydanticCustomError(
                    "unknown_value",
                    'unknown {kind} "{item}" (known: {known})',
                    {"kind": kind, "item": item, "known": ", ".join(allowed)},
                )
        return values

    return AfterValidator(check)


UNFULFILLED_STATUSES: tuple[str, ...] = (
    "awaiting_registration",
    "acceptance_in_progress",
    "awaiting_approve",
    "awaiting_packaging",
    "awaiting_deliver",
    "arbitration",
    "client_arbitration",
    "delivering",
    "driver_pickup",
    "not_accepted",
)
CANCELLABLE_STATUSES: tuple[str, ...] = ("awaiting_packaging", "awaiting_deliver")


# ---------------------------------------------------------------- the models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonSection(_Strict):
    database: str | None = None
    poll_interval: DurationAtLeast("10s") = timedelta(minutes=5)  # type: ignore[valid-type]
    timezone: Annotated[str, BeforeValidator(_zone)] = "Europe/Moscow"
    language: Literal["en", "zh", "ru"] = "en"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    digest_at: ClockTime = time(9, 0)
    keep_history: DurationAtLeast("1d") = timedelta(days=90)  # type: ignore[valid-type]

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


class OzonSection(_Strict):
    base_url: Annotated[str, BeforeValidator(_base_url)] = DEFAULT_BASE_URL
    timeout: DurationAtLeast("1s") = timedelta(seconds=30)  # type: ignore[valid-type]
    retry_for: DurationAtLeast("0s") = timedelta(minutes=2)  # type: ignore[valid-type]
    max_requests_per_second: Annotated[float, Field(gt=0, le=50)] = 20


class CancelSection(_Strict):
    enabled: bool = False
    overdue_for: DurationAtLeast("1h") = timedelta(hours=48)  # type: ignore[valid-type]
    statuses: Annotated[list[str], _known("cancellable status", CANCELLABLE_STATUSES)] = Field(
        default_factory=lambda: ["awaiting_packaging"]
    )
    reason_id: Annotated[int, Field(gt=0)] = 402
    reason_message: str = "Could not be shipped in time"
    max_per_cycle: Annotated[int, Field(ge=0)] = 5
    max_share: Annotated[float, Field(ge=0, le=1)] = 0.2


class PolicySection(_Strict):
    watch_statuses: Annotated[list[str], _known("status", UNFULFILLED_STATUSES)] = Field(
        default_factory=lambda: ["awaiting_packaging", "awaiting_deliver"]
    )
    remind_before: list[DurationAtLeast("1m")] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=4), timedelta(hours=1)]
    )
    overdue_repeat: DurationAtLeast("0s") = timedelta(hours=12)  # type: ignore[valid-type]
    remind_in: Literal["clock", "working"] = "clock"
    cancel: CancelSection = Field(default_factory=CancelSection)


class CancelOverride(_Strict):
    enabled: bool | None = None
    overdue_for: DurationAtLeast("1h") | None = None  # type: ignore[valid-type]
    statuses: Annotated[list[str], _known("cancellable status", CANCELLABLE_STATUSES)] | None = None
    reason_id: Annotated[int, Field(gt=0)] | None = None
    reason_message: str | None = None
    max_per_cycle: Annotated[int, Field(ge=0)] | None = None
    max_share: Annotated[float, Field(ge=0, le=1)] | None = None


class PolicyOverride(_Strict):
    watch_statuses: Annotated[list[str], _known("status", UNFULFILLED_STATUSES)] | None = None
    remind_before: list[DurationAtLeast("1m")] | None = None  # type: ignore[valid-type]
    overdue_repeat: DurationAtLeast("0s") | None = None  # type: ignore[valid-type]
    cancel: CancelOverride | None = None


class Account(_Strict):
    name: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
    api_key_env: str | None = None
    api_key_file: str | None = None
    api_key_credential: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    warehouse_ids: list[int] = Field(default_factory=list)
    policy: PolicyOverride | None = None

    def secret_fields(self) -> dict[str, str]:
        """The secret-source fields this account sets: {kind: field name}."""
        return set_sources(self, "api_key")


class NotifyRoute(_Strict):
    url: str | None = Field(default=None, repr=False)
    url_env: str | None = None
    url_file: str | None = None
    url_credential: str | None = None
    events: Annotated[list[str], _known("event", EVENTS)] = Field(
        default_factory=lambda: list(EVENTS)
    )
    accounts: list[str] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None

    def secret_fields(self) -> dict[str, str]:
        """The URL-source fields this route sets: {kind: field name}."""
        return set_sources(self, "url")


class HealthSection(_Strict):
    listen: Annotated[str, BeforeValidator(_listen)] | None = None
    heartbeat_url: str | None = Field(default=None, repr=False)
    heartbeat_url_env: str | None = None
    heartbeat_url_file: str | None = None
    heartbeat_url_credential: str | None = None

    def secret_fields(self) -> dict[str, str]:
        """The heartbeat-URL source fields set: {kind: field name} (none = no heartbeat)."""
        return set_sources(self, "heartbeat_url")


class Config(_Strict):
    """The whole validated config. `path` is the file it came from (None when built in code)."""

    daemon: DaemonSection = Field(default_factory=DaemonSection)
    ozon: OzonSection = Field(default_factory=OzonSection)
    accounts: Annotated[list[Account], Field(min_length=1)]
    policy: PolicySection = Field(default_factory=PolicySection)
    notify: list[NotifyRoute] = Field(default_factory=list)
    health: HealthSection = Field(default_factory=HealthSection)
    calendars: list[CalendarSection] = Field(default_factory=list)
    board: BoardSection = Field(default_factory=BoardSection)
    path: Path | None = Field(default=None, exclude=True)

    def account(self, name: str) -> Account:
        """The account named `name`; raises KeyError if there is none."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    def policy_section_for(self, account: Account) -> PolicySection:
        """`[policy]` with the account's `[accounts.policy]` overrides merged over it."""
        override = account.policy
        if override is None:
            return self.policy
        cancel = self.policy.cancel
        if override.cancel is not None:
            cancel = cancel.model_copy(update=override.cancel.model_dump(exclude_none=True))
        update = override.model_dump(exclude_none=True, exclude={"cancel"})
        update = {key: getattr(override, key) for key in update}
        update["cancel"] = cancel
        return self.policy.model_copy(update=update)

    def rules_for(self, account: Account) -> Rules:
        """The pure policy's rules for `account` (per-account overrides applied)."""
        section = self.policy_section_for(account)
        cancel = section.cancel
        return Rules(
            watch_statuses=frozenset(section.watch_statuses),
            remind_before=tuple(sorted(section.remind_before, reverse=True)),
            overdue_repeat=section.overdue_repeat,
            cancel=CancelRules(
                enabled=cancel.enabled,
                overdue_for=cancel.overdue_for,
                statuses=frozenset(cancel.statuses),
                reason_id=cancel.reason_id,
                reason_message=cancel.reason_message,
                max_per_cycle=cancel.max_per_cycle,
                max_share=cancel.max_share,
            ),
        )

    def database_path(self, env: Mapping[str, str] | None = None) -> Path:
        """Where the state database lives (CONTRACT section 3): `daemon.database` (relative to the
        config file's folder), else `$STATE_DIRECTORY/ozon-sync.db`, else ./ozon-sync.db."""
        env = os.environ if env is None else env
        if self.daemon.database:
            db = Path(self.daemon.database).expanduser()
            if not db.is_absolute():
                base = self.path.parent if self.path is not None else Path.cwd()
                db = base / db
            return db
        state_dirs = env.get("STATE_DIRECTORY", "")
        if state_dirs:
            return Path(state_dirs.split(":")[0]) / DEFAULT_DATABASE_NAME
        return Path.cwd() / DEFAULT_DATABASE_NAME

    def masked(self) -> dict[str, Any]:
        """The effective config as plain data with every inline secret replaced by '***'."""
        data = self.model_dump(mode="json")
        for account in data["accounts"]:
            if account.get("api_key") is not None:
                account["api_key"] = "***"
        for route in data["notify"]:
            if route.get("url") is not None:
                route["url"] = "***"
        if data["health"].get("heartbeat_url") is not None:
            data["health"]["heartbeat_url"] = "***"
        return data


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


# ---------------------------------------------------------------- loading


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file to use when `--config` is not given (CONTRACT section 2)."""
    env = os.environ if env is None else env
    if env.get("OZON_SYNC_CONFIG"):
        return Path(env["OZON_SYNC_CONFIG"])
    local = Path("config.toml")
    try:
        if local.is_file():
            return local
    except OSError:  # e.g. `sudo -u ozon-sync ozon-sync status` from a folder it cannot read
        pass
    return SYSTEM_CONFIG_PATH


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`.

    Raises ConfigError naming every problem by dotted path, the file when it cannot be read, or
    file:line:column for a TOML syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [f"file {path} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, [f"file {path} cannot be read ({reason(err)})"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        position = _TOML_POSITION.search(message)
        if position:
            message = message[: position.start()]
            line, column = position.groups()
            where = f"{path}:{line}:{column}"
        else:
            where = str(path)
        raise ConfigError(path, [f"{where}: invalid TOML: {message}"]) from None
    return parse_config(raw, path)


def parse_config(raw: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate already-parsed TOML data; raises ConfigError with every problem."""
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(dict(raw))
    except ValidationError as err:
        problems = _problems(err)
    problems += _cross_problems(raw) + calendar_problems(raw)
    if problems or config is None:
        raise ConfigError(path, problems)
    return config.model_copy(update={"path": path.resolve() if path else None})


def _cross_problems(raw: Mapping[str, Any]) -> list[str]:
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
        merged = {"reason_id": 402, "reason_message": "Could not be shipped in time"}
        merged.update({k: v for k, v in cancel_raw.items() if k in merged})
        merged.update({k: v for k, v in own_cancel.items() if k in merged})
        message = merged["reason_message"]
        if merged["reason_id"] == 402 and isinstance(message, str) and not message.strip():
            where = (
                f"accounts[{index}].policy.cancel.reason_message"
                if "reason_message" in own_cancel or "reason_id" in own_cancel
                else "policy.cancel.reason_message"
            )
            problems.append(f"{where}: must not be empty when reason_id is 402")
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
    return list(dict.fromkeys(problems))  # the same 402 problem once, not once per account


def _subtable(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _problems(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in err.errors():
        where = _dotted(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            text = "unknown key"
        elif kind == "missing":
            text = "is required"
        elif kind == "literal_error":
            text = f"{_show(item.get('input'))} is not one of {item['ctx']['expected']}"
        else:
            text = item["msg"]
            text = text.removeprefix("Value error, ")
            if kind in {
                "string_type",
                "int_type",
                "float_type",
                "bool_type",
                "list_type",
                "model_type",
                "dict_type",
                "int_parsing",
                "float_parsing",
                "bool_parsing",
                "greater_than",
                "greater_than_equal",
                "less_than_equal",
                "too_short",
                "string_too_short",
            }:
                text = f"{_show(item.get('input'))}: {text[0].lower()}{text[1:]}"
        problems.append(f"{where}: {text}" if where else text)
    return problems


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or ("-" in part and part.startswith(("function", "nullable"))):
            continue  # pydantic's validator tags, not keys of the file
        else:
            out += f".{part}" if out else part
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    return repr(value)


# ---------------------------------------------------------------- secrets


@dataclass(frozen=True)
class ResolvedSecrets:
    """Every secret of a config, read from its source: api keys by account name, route URLs by
    route index, the heartbeat URL (None when not configured). Values are `Secret`s."""

    api_keys: Mapping[str, Secret]
    route_urls: tuple[Secret, ...]
    heartbeat_url: Secret | None

    def all_values(self) -> list[str]:
        """Every secret value (for the log redaction filter)."""
        values = [secret.reveal() for secret in self.api_keys.values()]
        values += [secret.reveal() for secret in self.route_urls]
        if self.heartbeat_url is not None:
            values.append(self.heartbeat_url.reveal())
        return [value for value in values if value]


def resolve_secrets(
    config: Config,
    env: Mapping[str, str] | None = None,
    *,
    accounts: bool = True,
    routes: bool = True,
) -> ResolvedSecrets:
    """Read every secret of `config` from its one source.

    Raises ConfigError naming each account or route whose variable, file or credential is
    missing or empty. The values never appear in an error message.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    keys: dict[str, Secret] = {}
    if accounts:
        for index, account in enumerate(config.accounts):
            value = read_secret(
                account,
                "api_key",
                f"accounts[{index}]",
                f'account "{account.name}"',
                env,
                problems,
            )
            if value is not None:
                keys[account.name] = value
    urls: list[Secret] = []
    if routes:
        for index, route in enumerate(config.notify):
            value = read_secret(
                route, "url", f"notify[{index}]", f"notification route {index}", env, problems
            )
            urls.append(value if value is not None else Secret(""))
    heartbeat = None
    if routes and config.health.secret_fields():
        heartbeat = read_secret(
            config.health, "heartbeat_url", "health", "the heartbeat", env, problems
        )
    if problems:
        raise ConfigError(config.path, problems)
    return ResolvedSecrets(api_keys=keys, route_urls=tuple(urls), heartbeat_url=heartbeat)
