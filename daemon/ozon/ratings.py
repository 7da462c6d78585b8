"""Ozon rating answers -> `daemon.models` values: the seller ratings and the FBS error index.

- `/v1/rating/summary` (official seller document 2025-09, `v1RatingSummaryV1Response`):
  `groups[] {group_name, items[] {rating, name, current_value, past_value, rating_direction,
  status, value_type, change {direction, meaning}}}`, `penalty_score_exceeded`, ...
- `/v1/rating/index/fbs/info` (Ozon's reference page `RatingAPI_GetFBSRatingIndexInfoV1`,
  newer than the stored documents; see `tests/data/ozon/README.md`): `index`, `period_from`,
  `period_to` (`YYYY-MM-DD`), `processing_costs_sum`, `currency_code`, `defects[] {date,
  index_by_date, processing_costs_sum_by_date}`.

Tolerant like `parse`: unknown fields and `null` pass, enum values stay open, an item without a
system name is left out. Strict on what the ship-or-cancel advice relies on: an index answer
without `index`, or with a date that is not `YYYY-MM-DD`, raises ParseError naming the field.

This module imports msgspec, the standard library, `daemon.models` and `daemon.ozon`'s parse and
wire modules.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from daemon.models import ErrorIndex, ErrorIndexDay, Rating, RatingSummary
from daemon.ozon import wire
from daemon.ozon.parse import ParseError

__all__ = ["parse_error_index", "parse_rating_summary"]

# Dates outside these years are not a rating window Ozon could mean.
_FIRST_YEAR, _LAST_YEAR = 2000, 2100


def _decode(data: bytes, shape: type[Any]) -> Any:
    """Decode or raise ParseError naming the field (NotJSON passes for a body not JSON)."""
    try:
        return wire.decode(data, shape)
    except msgspec.ValidationError as err:
        field, message = wire.split_validation(err)
        raise ParseError(message, field=field) from None


def _text(value: str | None) -> str:
    return value if value is not None else ""


def parse_rating_summary(data: bytes) -> RatingSummary:
    """Parse `/v1/rating/summary` into a RatingSummary (every rating of every group).

    Raises NotJSON for a body that is not JSON, ParseError when a field has an unreadable type.
    """
    answer: wire.RatingSummary = _decode(data, wire.RatingSummary)
    ratings: list[Rating] = []
    for group in answer.groups or ():
        for item in group.items or ():
            if not item.rating:
                continue
            change = item.change
            ratings.append(
                Rating(
                    rating=item.rating,
                    name=_text(item.name),
                    group=_text(group.group_name),
                    value=item.current_value,
                    past_value=item.past_value,
                    status=_text(item.status),
                    direction=_text(item.rating_direction),
                    value_type=_text(item.value_type),
                    change_direction=_text(change.direction) if change else "",
                    change_meaning=_text(change.meaning) if change else "",
                )
            )
    return RatingSummary(
        ratings=tuple(ratings), penalty_score_exceeded=bool(answer.penalty_score_exceeded)
    )


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{text!r} is not a YYYY-MM-DD date"[:200], field=field) from None
    if len(text) != 10 or not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        raise ParseError(f"{text!r} is not a YYYY-MM-DD date of a rating window", field=field)
    return value


def parse_error_index(data: bytes) -> ErrorIndex:
    """Parse `/v1/rating/index/fbs/info` into an ErrorIndex (the index exactly as sent).

    Raises NotJSON for a body that is not JSON, ParseError when `index` is missing or a date is
    not `YYYY-MM-DD`.
    """
    answer: wire.ErrorIndex = _decode(data, wire.ErrorIndex)
    if answer.index is None:
        raise ParseError("the answer has no index", field="index")
    days: list[ErrorIndexDay] = []
    for position, defect in enumerate(answer.defects or ()):
        day = _day(defect.date, f"defects[{position}].date")
        if day is None:
            raise ParseError("a day of the index has no date", field=f"defects[{position}].date")
        days.append(
            ErrorIndexDay(
                day=day,
                index=defect.index_by_date or 0.0,
                processing_costs_sum=defect.processing_costs_sum_by_date or 0.0,
            )
        )
    return ErrorIndex(
        index=answer.index,
        period_from=_day(answer.period_from, "period_from"),
        period_to=_day(answer.period_to, "period_to"),
        processing_costs_sum=answer.processing_costs_sum or 0.0,
        currency=_text(answer.currency_code),
        days=tuple(days),
    )
