"""Ozon's JSON of a shipping-speed tariff, for postings built by hand in tests: a Posting keeps
`tariffication` and `tariffication_steps` as Ozon sent them (read on demand, `daemon.tariff`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from daemon.models import Money, Posting, Tariff, TariffStep


def _money(money: Money | None) -> dict[str, str] | None:
    return None if money is None else {"amount": money.amount, "currency": money.currency}


def _moment(moment: datetime | None) -> str:
    if moment is None:
        return "9999-12-31T23:59:59.999999900Z"  # Ozon's "no further step" marker
    return moment.isoformat().replace("+00:00", "Z")


def steps_json(steps: Sequence[TariffStep]) -> msgspec.Raw:
    """`tariffication_steps` as the v4 list methods send it."""
    return msgspec.Raw(
        msgspec.json.encode(
            [
                {
                    "tariff_type": step.tariff_type,
                    "tariff_rate": step.rate,
                    "tariff_charge": _money(step.charge),
                    "min_charge": None,
                    "tariff_deadline_at": _moment(step.ends_at),
                }
                for step in steps
            ]
        )
    )


def tariff_json(tariff: Tariff | None) -> msgspec.Raw:
    """`tariffication` as the v4 list methods send it (`null` for None)."""
    if tariff is None:
        return msgspec.Raw(b"null")
    body: dict[str, Any] = {
        "current_tariff_type": tariff.current_type,
        "current_tariff_rate": tariff.current_rate,
        "current_tariff_charge": _money(tariff.current_charge),
        "next_tariff_type": tariff.next_type,
        "next_tariff_rate": tariff.next_rate,
        "next_tariff_charge": _money(tariff.next_charge),
        "next_tariff_starts_at": None
        if tariff.next_starts_at is None
        else _moment(tariff.next_starts_at),
    }
    return msgspec.Raw(msgspec.json.encode(body))


def with_tariff(
    tariff: Tariff | None = None, steps: Sequence[TariffStep] = (), **fields: Any
) -> Posting:
    """A Posting of `fields` whose tariff reads as `tariff` and `steps`, with
    `next_tariff_starts_at` taken from the tariff as parsing would."""
    fields.setdefault("next_tariff_starts_at", tariff.next_starts_at if tariff else None)
    return Posting(
        tariffication=tariff_json(tariff), tariffication_steps=steps_json(steps), **fields
    )
