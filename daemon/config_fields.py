"""Field types of the config built on other modules' rules: the shard (`daemon.shards`),
`[policy] escalate_after` and a route's escalation level (`daemon.policy_rules`). The plain field
types and the wording of problems live in `daemon.config_checks`.

Imports pydantic, the standard library, `daemon.config_checks`, `daemon.policy_rules` and
`daemon.shards` only; `daemon.config` builds its models with them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from daemon.config_checks import DurationAtLeast, show
from daemon.policy_rules import ESCALATION_LEVELS, escalate_after_problem
from daemon.shards import Shard, ShardError


def _shard(value: Any) -> Shard:
    if isinstance(value, Shard):
        return value
    try:
        return Shard.parse(value)
    except ShardError as err:
        raise PydanticCustomError("shard", "{problem}", {"problem": str(err)}) from None


ShardText = Annotated[Shard, BeforeValidator(_shard), PlainSerializer(str, return_type=str)]


def _escalate_after(durations: list[timedelta]) -> list[timedelta]:
    problem = escalate_after_problem(durations)
    if problem is not None:
        raise PydanticCustomError("escalate_after", "{problem}", {"problem": problem})
    return durations


def EscalateAfter() -> Any:
    """`[policy] escalate_after`: up to two growing durations, counted from the first alert."""
    duration = DurationAtLeast("1s")
    return Annotated[list[duration], AfterValidator(_escalate_after)]  # type: ignore[valid-type]


def _level(value: object) -> int:
    if type(value) is not int or not 0 <= value <= ESCALATION_LEVELS:
        raise PydanticCustomError(
            "level",
            "{value} is not an escalation level: 0 (every alert it takes, the default), 1 or 2 "
            "(only escalations of that level)",
            {"value": show(value)},
        )
    return value


Level = Annotated[int, BeforeValidator(_level)]
