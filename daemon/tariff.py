"""The shipping-speed tariff as the daemon sees it: money, the tariff in force and its steps
(`Money`, `Tariff`, `TariffStep`), and the on-demand reading of Ozon's JSON of them.

A posting keeps Ozon's `tariffication` and `tariffication_steps` JSON unread
(`daemon.models.Posting`): a sync reads hundreds of postings a second and only an alert or the
ship-or-cancel advice needs the tariff, so it is read here when asked for (`read_tariff`,
`read_tariff_steps`), leniently: what cannot be read is none, never an error. The state cache
keeps that JSON only for a posting past its deadline (`daemon.store.postings`): a posting read
back from the cache before its deadline has no tariff but its `next_tariff_starts_at`.

This module imports only the standard library and msgspec; `daemon.models` imports it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

__all__ = ["NULL", "Money", "Tariff", "TariffStep", "read_tariff", "read_tariff_steps"]


class Money(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An amount of money as Ozon writes it: decimal text (`"50"`, `"45.90"`) and a currency
    code (`"RUB"`, or "" when Ozon does not say). Text, so no rounding happens on the way.

    Like Tariff and TariffStep, it encodes as a JSON array (`["50","RUB"]`), not an object.
    (A cached posting keeps Ozon's own JSON of its tariff, not these: see `read_tariff`.)"""

    amount: str
    currency: str = ""


class Tariff(msgspec.Struct, frozen=True, kw_only=True, gc=False, array_like=True):
    """The shipping-speed tariff in force when the posting was read (`tariffication`).

    `*_type` is Ozon's open enum (`discount`: shipping early is cheaper, `no_discount`,
    `commission`: a surcharge for shipping late); `*_rate` a percent of the product price;
    `*_charge` the amount Ozon computed (already at least its `*_min_charge`, which is not
    kept), None when Ozon sends none. `next_starts_at` is when the next tariff applies, None
    when there is no further step (Ozon sends `null` or the 9999-12-31 marker).
    """

    current_type: str = ""
    current_rate: float = 0.0
    current_charge: Money | None = None
    next_type: str = ""
    next_rate: float = 0.0
    next_charge: Money | None = None
    next_starts_at: datetime | None = None


class TariffStep(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One step of the shipping-speed tariff timeline (`tariffication_steps[]`).

    A step applies from the end of the previous one (or the posting's creation) until
    `ends_at`, inclusive; None means it never ends (Ozon's 9999-12-31 marker: the last step).
    `charge` is what Ozon computed for it (already at least its `min_charge`, not kept).
    """

    tariff_type: str = ""
    rate: float = 0.0
    charge: Money | None = None
    ends_at: datetime | None = None


# --------------------------------------------------------------------------- reading Ozon's JSON
# Ozon's JSON of `tariffication` (an object; an array in the 2025 v3 list schema; charges are
# `{amount, currency}` in v4 lists and text with `*_currency_code` beside it in v3 get) and of
# `tariffication_steps[]` (the same shape everywhere). Minimum charges are not read: the charge
# already includes them. Dates: RFC 3339 with a time zone; null, "" and anything from year
# 2100 on (Ozon's 9999-12-31 "no further step" marker) mean none; one before 2000 too.

NULL = msgspec.Raw(b"null")
"""The JSON `null`: a posting without tariff data."""


class _MoneyIn(msgspec.Struct, gc=False):
    amount: str | int | float | None = None
    currency: str | None = None
    currency_code: str | None = None


class _StepIn(msgspec.Struct, gc=False):
    tariff_type: str | None = None
    tariff_rate: float | None = None
    tariff_charge: _MoneyIn | None = None
    tariff_deadline_at: str | None = None


class _TariffIn(msgspec.Struct, gc=False):
    current_tariff_type: str | None = None
    current_tariff_rate: float | None = None
    current_tariff_charge: _MoneyIn | str | float | None = None
    current_tariff_charge_currency_code: str | None = None
    next_tariff_type: str | None = None
    next_tariff_rate: float | None = None
    next_tariff_charge: _MoneyIn | str | float | None = None
    next_tariff_charge_currency_code: str | None = None
    next_tariff_starts_at: str | None = None


_read_steps = msgspec.json.Decoder(list[_StepIn] | None, strict=False).decode
_read_tariff = msgspec.json.Decoder(_TariffIn | list[_TariffIn] | None, strict=False).decode


class _Unreadable(ValueError):
    """A tariff date that is not an RFC 3339 date-time with a time zone."""


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    if text[:4].isdigit() and text[:4] >= "2100":  # a far-future marker (9999-12-31...)
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _Unreadable(text) from None
    if len(text) < 20 or text[10] not in "Tt " or value.utcoffset() is None:
        raise _Unreadable(text)
    if value.tzinfo is not UTC:  # "Z" gives UTC itself; an offset is converted
        value = value.astimezone(UTC)
    return value if value.year >= 2000 else None


def _money(value: _MoneyIn | str | float | None, code: str | None = None) -> Money | None:
    amount = value
    if isinstance(value, _MoneyIn):
        amount, code = value.amount, value.currency or value.currency_code or code
    if amount is None or amount == "":
        return None
    return Money(amount if isinstance(amount, str) else repr(amount), code or "")


def read_tariff_steps(raw: msgspec.Raw) -> tuple[TariffStep, ...]:
    """Ozon's `tariffication_steps` JSON as TariffSteps, oldest first; empty when there are
    none or one cannot be read (a timeline with a hole in it cannot be walked)."""
    try:
        steps = _read_steps(raw) or ()
        return tuple(
            TariffStep(
                step.tariff_type or "",
                step.tariff_rate or 0.0,
                _money(step.tariff_charge),
                _moment(step.tariff_deadline_at),
            )
            for step in steps
        )
    except (msgspec.DecodeError, _Unreadable):
        return ()


def read_tariff(raw: msgspec.Raw) -> Tariff | None:
    """Ozon's `tariffication` JSON as a Tariff (the first one of an array); None when there
    is none or it cannot be read."""
    try:
        found = _read_tariff(raw)
        item = (found[0] if found else None) if isinstance(found, list) else found
        if item is None:
            return None
        return Tariff(
            current_type=item.current_tariff_type or "",
            current_rate=item.current_tariff_rate or 0.0,
            current_charge=_money(
                item.current_tariff_charge, item.current_tariff_charge_currency_code
            ),
            next_type=item.next_tariff_type or "",
            next_rate=item.next_tariff_rate or 0.0,
            next_charge=_money(item.next_tariff_charge, item.next_tariff_charge_currency_code),
            next_starts_at=_moment(item.next_tariff_starts_at),
        )
    except (msgspec.DecodeError, _Unreadable):
        return None
