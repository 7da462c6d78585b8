"""The config file: TOML -> validated pydantic models, durations.

Loading is two steps, so that commands which only read the local database never touch a secret:

1. `load_config(path)` parses and validates the file. Every problem is collected and named by its
   dotted path (`policy.remind_before[1]`); a `ConfigError` carries all of them.
2. `resolve_secrets(config)` (`daemon.config_secrets`, re-exported here) reads the API keys and
   notification URLs from exactly one source each (environment, file, systemd credential,
   inline). Only commands that talk to Ozon or to the notification routes call it.

The field types and the wording of problems live in `daemon.config_checks` (and
`daemon.config_fields`), `ConfigError` and the checks that span several keys in
`daemon.config_problems`, finding and reading the file in `daemon.config_file`. This module
imports pydantic, the standard library, those `config_*` modules, `daemon.secrets`,
`daemon.policy_rules` (the rules it builds, whose defaults `[policy.cancel]` takes) and
`daemon.alerts` (event names); never the store, the Ozon client or the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from daemon.alerts import EVENTS
from daemon.calendars import CalendarSection, calendar_problems
from daemon.config_checks import (
    BaseUrl,
    ClientId,
    ClockTime,
    DatabasePath,
    DurationAtLeast,
    EnvName,
    ListenAddress,
    OzonId,
    QuietHours,
    SourceName,
    ZoneName,
    field_problems,
    shared_client_id_problems,
)
from daemon.config_checks import known as _known
from daemon.config_fields import EscalateAfter, Level, ShardText
from daemon.config_file import default_config_path, read_toml
from daemon.config_problems import ConfigError, cross_problems
from daemon.config_secrets import ResolvedSecrets, resolve_secrets
from daemon.durations import LONGEST_DURATION
from daemon.policy_rules import CancelRules, Rules
from daemon.secrets import Secret, set_sources
from daemon.shards import Shard, shard_database
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
MIN_REQUESTS_PER_SECOND = 1.0
"""The lowest `max_requests_per_second`: the pause between two requests then stays within the
shortest `timeout` allowed (1s), and a cycle of a few hundred pages within minutes, not hours."""


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
    database: DatabasePath | None = None
    poll_interval: DurationAtLeast("10s") = timedelta(minutes=5)  # type: ignore[valid-type]
    timezone: ZoneName = "Europe/Moscow"
    language: Literal["en", "zh", "ru"] = "en"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    digest_at: ClockTime = time(9, 0)
    keep_history: DurationAtLeast("1d", LONGEST_DURATION) = timedelta(days=90)  # type: ignore[valid-type]
    shard: ShardText = Shard()
    shard_port_offset: bool = True

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


class OzonSection(_Strict):
    base_url: BaseUrl = DEFAULT_BASE_URL
    timeout: DurationAtLeast("1s") = timedelta(seconds=30)  # type: ignore[valid-type]
    retry_for: DurationAtLeast("0s") = timedelta(minutes=2)  # type: ignore[valid-type]
    max_requests_per_second: Annotated[float, Field(ge=MIN_REQUESTS_PER_SECOND, le=50)] = 20


_CANCEL = CancelRules()  # the defaults of [policy.cancel]: defined once, in the policy's rules


class CancelSection(_Strict):
    """`[policy.cancel]`: the fields of `CancelRules` as the file writes them, with its
    defaults; `cancel_rules` turns it into them field by field."""

    enabled: bool = _CANCEL.enabled
    overdue_for: DurationAtLeast("1h") = _CANCEL.overdue_for  # type: ignore[valid-type]
    statuses: Annotated[list[str], _known("cancellable status", CANCELLABLE_STATUSES)] = Field(
        default_factory=lambda: sorted(_CANCEL.statuses)
    )
    reason_id: OzonId = _CANCEL.reason_id
    reason_message: str = _CANCEL.reason_message
    max_per_cycle: Annotated[int, Field(ge=0)] = _CANCEL.max_per_cycle
    max_share: Annotated[float, Field(ge=0, le=1)] = _CANCEL.max_share
    respect_advice: bool = _CANCEL.respect_advice
    reason_ids: Annotated[list[OzonId], Field(min_length=1)] | None = None

    def cancel_rules(self) -> CancelRules:
        """The policy's CancelRules with these values (every field, by name)."""
        values = dict(self)
        values["statuses"] = frozenset(self.statuses)
        values["reason_ids"] = tuple(dict.fromkeys(self.reason_ids or ()))
        return CancelRules(**values)


class PolicySection(_Strict):
    watch_statuses: Annotated[list[str], _known("status", UNFULFILLED_STATUSES)] = Field(
        default_factory=lambda: ["awaiting_packaging", "awaiting_deliver"]
    )
    remind_before: list[DurationAtLeast("1m")] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=4), timedelta(hours=1)]
    )
    overdue_repeat: DurationAtLeast("0s") = timedelta(hours=12)  # type: ignore[valid-type]
    remind_in: Literal["clock", "working"] = "clock"
    tariff_warn_before: DurationAtLeast("0s") = Rules().tariff_warn_before  # type: ignore[valid-type]
    escalate_after: EscalateAfter() = Field(default_factory=list)  # type: ignore[valid-type]
    cancel: CancelSection = Field(default_factory=CancelSection)


def _optional(section: type[_Strict], name: str) -> type[_Strict]:
    """A model with every field of `section`, validated the same way, each optional (None:
    not set, the section's value applies): an override table written once."""
    fields: dict[str, Any] = {}
    for field, info in section.model_fields.items():
        kind: Any = info.annotation
        if info.metadata:  # the validators and serializers of its Annotated type
            kind = Annotated[(kind, *info.metadata)]
        fields[field] = (kind | None, None)
    model: type[_Strict] = create_model(name, __base__=_Strict, **fields)
    return model


if TYPE_CHECKING:
    CancelOverride = _Strict
else:  # `[accounts.policy.cancel]`: the fields of `[policy.cancel]`, any of them set
    CancelOverride = _optional(CancelSection, "CancelOverride")


class PolicyOverride(_Strict):
    watch_statuses: Annotated[list[str], _known("status", UNFULFILLED_STATUSES)] | None = None
    remind_before: list[DurationAtLeast("1m")] | None = None  # type: ignore[valid-type]
    overdue_repeat: DurationAtLeast("0s") | None = None  # type: ignore[valid-type]
    tariff_warn_before: DurationAtLeast("0s") | None = None  # type: ignore[valid-type]
    remind_in: Literal["clock", "working"] | None = None
    escalate_after: EscalateAfter() | None = None  # type: ignore[valid-type]
    cancel: CancelOverride | None = None


class Account(_Strict):
    name: Annotated[str, Field(min_length=1)]
    client_id: ClientId
    api_key_env: EnvName | None = None
    api_key_file: SourceName | None = None
    api_key_credential: SourceName | None = None
    api_key: str | None = Field(default=None, repr=False)
    warehouse_ids: list[OzonId] = Field(default_factory=list)
    policy: PolicyOverride | None = None

    def secret_fields(self) -> dict[str, str]:
        """The secret-source fields this account sets: {kind: field name}."""
        return set_sources(self, "api_key")


class NotifyRoute(_Strict):
    url: str | None = Field(default=None, repr=False)
    url_env: EnvName | None = None
    url_file: SourceName | None = None
    url_credential: SourceName | None = None
    events: Annotated[list[str], _known("event", EVENTS)] = Field(
        default_factory=lambda: list(EVENTS)
    )
    accounts: list[str] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    level: Level = 0  # 0: the alerts of `events`; 1, 2: only escalations of that level

    def secret_fields(self) -> dict[str, str]:
        """The URL-source fields this route sets: {kind: field name}."""
        return set_sources(self, "url")


class HealthSection(_Strict):
    listen: ListenAddress | None = None
    heartbeat_url: str | None = Field(default=None, repr=False)
    heartbeat_url_env: EnvName | None = None
    heartbeat_url_file: SourceName | None = None
    heartbeat_url_credential: SourceName | None = None

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
        if override.cancel is not None:  # the values as validated, not as serialized ("48h")
            changes = _set_fields(override.cancel)
            if "reason_id" in changes:  # the account's one reason replaces an inherited list
                changes.setdefault("reason_ids", None)
            cancel = cancel.model_copy(update=changes)
        update = _set_fields(override)
        update["cancel"] = cancel
        return self.policy.model_copy(update=update)

    def rules_for(self, account: Account) -> Rules:
        """The pure policy's rules for `account` (per-account overrides applied)."""
        section = self.policy_section_for(account)
        return Rules(
            watch_statuses=frozenset(section.watch_statuses),
            remind_before=tuple(sorted(section.remind_before, reverse=True)),
            overdue_repeat=section.overdue_repeat,
            remind_in=section.remind_in,
            cancel=section.cancel.cancel_rules(),
            escalate_after=tuple(section.escalate_after),
            tariff_warn_before=section.tariff_warn_before,
        )

    def database_path(self, env: Mapping[str, str] | None = None) -> Path:
        """This process's state database: the configured one (`base_database_path`) for shard
        0/1, else `ozon-sync-N.db` beside it for `daemon.shard` N/M (daemon.shards)."""
        return shard_database(self.base_database_path(env), self.daemon.shard)

    def shard_view(self, shard: Shard | None = None) -> Config:
        """This config as the process of `shard` (default: `daemon.shard`) runs it: only the
        accounts it owns, `daemon.shard` set to it, and with `daemon.shard_port_offset` the
        `[health]` and `[board]` listen ports moved up by N so that shards on one host never
        collide. Raises ConfigError when a moved port would pass 65535."""
        shard = shard or self.daemon.shard
        update: dict[str, Any] = {
            "daemon": self.daemon.model_copy(update={"shard": shard}),
            "accounts": [a for a in self.accounts if shard.owns(a.client_id)],
        }
        if shard.sharded and self.daemon.shard_port_offset:
            problems: list[str] = []
            health = _moved(self.health.listen, shard.index, "health.listen", problems)
            board = _moved(self.board.listen, shard.index, "board.listen", problems)
            if problems:
                raise ConfigError(self.path, problems)
            update["health"] = self.health.model_copy(update={"listen": health})
            update["board"] = self.board.model_copy(update={"listen": board})
        return self.model_copy(update=update)

    def base_database_path(self, env: Mapping[str, str] | None = None) -> Path:
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


def _moved(listen: str | None, offset: int, key: str, problems: list[str]) -> str | None:
    """`listen` ("host:port") with its port moved up by `offset` (port 0 stays: any port)."""
    if listen is None or offset == 0:
        return listen
    host, _, port = listen.rpartition(":")
    if int(port) == 0:
        return listen
    if int(port) + offset > 65535:
        problems.append(
            f"{key}: port {port} + shard {offset} passes 65535; lower the port or set "
            "daemon.shard_port_offset = false"
        )
        return listen
    return f"{host}:{int(port) + offset}"


def _set_fields(override: BaseModel) -> dict[str, Any]:
    """The fields an override table sets (not None), as validated values."""
    return {
        name: value
        for name in type(override).model_fields
        if name != "cancel" and (value := getattr(override, name)) is not None
    }


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`.

    Raises ConfigError naming every problem by dotted path, the file when it cannot be read, or
    file:line:column for a TOML syntax error (`daemon.config_file`).
    """
    return parse_config(read_toml(path), path)


def parse_config(raw: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate already-parsed TOML data; raises ConfigError with every problem."""
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(dict(raw))
    except ValidationError as err:
        problems = field_problems(err)
    problems += cross_problems(raw) + calendar_problems(raw)
    problems += shared_client_id_problems(raw.get("accounts"))
    if problems or config is None:
        raise ConfigError(path, problems)
    shard = config.daemon.shard  # every shard of it must be able to listen (ports moved by N)
    config.shard_view(Shard(shard.count - 1, shard.count))
    return config.model_copy(update={"path": path.resolve() if path else None})
