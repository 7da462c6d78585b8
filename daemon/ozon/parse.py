"""Ozon response bytes -> `daemon.models` values: tolerant where Ozon varies, strict where we rely.

Each endpoint has its own wire Structs (the "same" field differs between methods: `price` is an
object `{amount, currency}` in v4 lists and a string plus `currency_code` in `/v3/.../get` (seen
in list pages too; the currency is kept from either); `tariffication` is an object or an array;
`prr_option` a string or an object and not read at all). Wire Structs declare only what we
read, every field optional, so unknown fields and `null` pass; `strict=False` lets int64 ids
arrive as numbers or strings; enum-like strings stay open.

Strict: a posting without `posting_number`, `status` or `shipment_date`, or with a date that is
not RFC 3339, is a problem. In a list page that one posting is skipped and reported as a
`PostingProblem`; a single-posting answer raises `ParseError`. A body that is not JSON raises
`NotJSON` (the client retries those like a 5xx).

Dates are range-checked here, once: real ones lie in [EARLIEST (2000), FAR_FUTURE (2100)).
A `shipment_date` from FAR_FUTURE on (Ozon's `9999-12-31T23:59:59Z` "none" marker) becomes
`models.NO_DEADLINE`; one before EARLIEST (`0001-01-01T00:00:00Z`, a zero value) makes the
posting a problem, and so does a `posting_number` that cannot be a key (control characters,
over 64 characters). Other dates outside the range (optional ones: `in_process_at`, tariff
steps, key expiry) read as absent (None). A posting number listed twice on one page keeps the
first usable copy; the repeat is reported as a problem of field `posting_number`.

Speed: a page is decoded in one `msgspec` call (dates stay text and go through a small cache,
since many postings share a deadline). Only if that fails is the page decoded again posting by
posting (`msgspec.Raw`), so one bad posting never costs the others.

This module imports msgspec, the standard library and `daemon.models`; never httpx or config.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from daemon.models import (
    NO_DEADLINE,
    Cancellation,
    CancelReason,
    KeyInfo,
    Money,
    Posting,
    PostingCancelReasons,
    Product,
    Requirement,
    Tariff,
    TariffStep,
)
from daemon.ozon import wire
from daemon.ozon.wire import NotJSON

__all__ = [
    "NotJSON",
    "Page",
    "ParseError",
    "PostingProblem",
    "parse_cancel_reason_list",
    "parse_cancel_reasons",
    "parse_cancel_result",
    "parse_datetime",
    "parse_error_body",
    "parse_get",
    "parse_key_info",
    "parse_list_page",
    "parse_unfulfilled_page",
]


# --------------------------------------------------------------------------- public values


class PostingProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One posting of a list page that could not be used; the rest of the page was.

    `posting_number` is "" when even that could not be read; `field` names the culprit
    (`shipment_date`, `products[0].sku`, or "" when the posting is not an object).
    """

    posting_number: str
    field: str
    message: str


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a posting list: the usable postings and the skipped ones, with paging data.

    `count` is Ozon's total match count where the method sends one (unfulfilled list), else None.
    """

    postings: list[Posting]
    problems: list[PostingProblem]
    has_next: bool
    cursor: str
    count: int | None = None


class ParseError(ValueError):
    """A JSON answer lacks something we rely on or has it in a shape we cannot read."""

    def __init__(self, message: str, *, field: str = "", posting_number: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.posting_number = posting_number


# --------------------------------------------------------------------------- dates

_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})\Z"
)
_FAR_YEAR = re.compile(r"(?:2[1-9]|[3-9]\d)\d\d-")  # years 2100-9999
_date_cache: dict[str, datetime] = {}
# Real dates lie in [EARLIEST, FAR_FUTURE). Outside it a date is a marker, never a moment to
# compute with (9999-12-31 plus a time zone offset or a duration overflows a datetime).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
_DATE_CACHE_SIZE = 8192


def parse_datetime(text: str) -> datetime:
    """Parse RFC 3339 text (0-9 fraction digits, `Z` or an offset) into an aware UTC datetime.

    Fractions beyond microseconds are truncated (so Ozon's `9999-12-31T23:59:59.999999900Z`
    sentinel works). Raises ValueError for anything else, including a missing time zone.
    """
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    match = _DATE_TIME.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    day, clock, fraction, zone = match.groups()
    if zone == "Z" and fraction is None:  # the shape Ozon sends: read as is (3x faster)
        try:
            value = datetime.fromisoformat(text)  # "Z" gives the shared UTC tzinfo
        except ValueError:
            pass  # the general path below says what is wrong, in its words
        else:
            _remember(text, value)
            return value
    iso = f"{day}T{clock}"
    if fraction:
        iso += "." + fraction[:6].ljust(6, "0")
    iso += "+00:00" if zone in ("Z", "z") else zone
    try:
        value = datetime.fromisoformat(iso)
        # An offset is converted; "+00:00" becomes the one shared UTC tzinfo.
        value = value.astimezone(UTC) if value.utcoffset() else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{text!r} is not a valid date-time ({err})") from None
    _remember(text, value)
    return value


def _remember(text: str, value: datetime) -> None:
    if len(_date_cache) >= _DATE_CACHE_SIZE:
        _date_cache.clear()
    _date_cache[text] = value


def _date(text: str | None, field: str, number: str) -> datetime | None:
    """An optional date-time: None when absent or outside the range of real dates (Ozon sends
    `0001-01-01T00:00:00Z` for "not set" and `9999-12-31T23:59:59Z` for "none"); ParseError
    when it is not a date-time at all."""
    value = _any_date(text, field, number)
    if value is None or not EARLIEST <= value < FAR_FUTURE:
        return None
    return value


def _deadline(text: str | None, number: str) -> datetime:
    """The posting's `shipment_date`: NO_DEADLINE when it is far in the future (Ozon's marker
    for none); ParseError when it is missing, not a date-time, or before EARLIEST (a zero date
    is not a deadline: the posting is reported and skipped rather than called overdue)."""
    value = _any_date(text, "shipment_date", number)
    if value is None:
        raise ParseError("missing shipment_date", field="shipment_date", posting_number=number)
    if value >= FAR_FUTURE:
        return NO_DEADLINE
    if value < EARLIEST:
        raise ParseError(
            f"shipment_date {text!r} is before {EARLIEST:%Y}: not a real deadline",
            field="shipment_date",
            posting_number=number,
        )
    return value


def _any_date(text: str | None, field: str, number: str) -> datetime | None:
    if not text:
        return None
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    if _FAR_YEAR.match(text):  # far future, even where an offset would overflow a datetime
        return NO_DEADLINE
    try:
        return parse_datetime(text)
    except ValueError as err:
        raise ParseError(str(err), field=field, posting_number=number) from None


# --------------------------------------------------------------------------- conversion


def _text(value: str | None) -> str:
    return value if value is not None else ""


def _price(product: wire.ProductV4 | wire.ProductV3) -> tuple[str, str]:
    """(decimal text, currency) of a product, from whichever money shape Ozon sent."""
    price, currency = product.price, product.currency_code
    if isinstance(price, wire.Money):
        amount, currency = price.amount, price.currency or price.currency_code or currency
    else:
        amount = price
    if amount is None:
        return "", currency or ""
    return (amount if isinstance(amount, str) else repr(amount)), currency or ""


def _to_posting(item: wire.PostingV4 | wire.PostingV3) -> Posting:
    """Convert a decoded wire posting; ParseError names the missing or unreadable field."""
    number = item.posting_number
    if not number:
        raise ParseError("the posting has no posting_number", field="posting_number")
    if not _usable_number(number):
        raise ParseError(
            f"posting_number {number[:40]!r} is not a posting number", field="posting_number"
        )
    if not item.status:
        raise ParseError("missing status", field="status", posting_number=number)
    shipment_date = _deadline(item.shipment_date, number)

    wire_tariff = item.tariffication
    if isinstance(wire_tariff, list):
        wire_tariff = wire_tariff[0] if wire_tariff else None
    tariff = _tariff(wire_tariff, number) if wire_tariff is not None else None
    method = item.delivery_method
    requirements = _requirements(item.requirements) if item.requirements else ()
    return Posting(
        posting_number=number,
        status=item.status,
        shipment_date=shipment_date,
        order_number=_text(item.order_number),
        order_id=item.order_id,
        substatus=_text(item.substatus),
        shipment_date_without_delay=_date(
            item.shipment_date_without_delay, "shipment_date_without_delay", number
        ),
        in_process_at=_date(item.in_process_at, "in_process_at", number),
        delivering_date=_date(item.delivering_date, "delivering_date", number),
        warehouse_id=method.warehouse_id if method else None,
        warehouse_name=_text(method.warehouse) if method else "",
        delivery_method_id=method.id if method else None,
        delivery_method_name=_text(method.name) if method else "",
        tpl_integration_type=_text(item.tpl_integration_type),
        available_actions=tuple(item.available_actions) if item.available_actions else (),
        products=tuple([_to_product(product) for product in item.products or ()]),
        cancellation=_cancellation(item.cancellation),
        next_tariff_starts_at=tariff.next_starts_at if tariff is not None else None,
        requirements=tuple([found.name for found in requirements]) if requirements else (),
        parent_posting_number=_text(item.parent_posting_number),
        tariff=tariff,
        tariff_steps=_steps(item.tariffication_steps, number) if item.tariffication_steps else (),
        requirement_skus=requirements,
    )


# --------------------------------------------------------------------------- tariff, requirements

# Ozon's "no further step" marker, `9999-12-31T23:59:59.9999999Z` (fraction digits vary).
_NO_FURTHER_STEP = "9999-12-31"
_STEP_FIELD = "tariffication_steps[{}].tariff_deadline_at"
# Money values repeat across postings ("50"/"RUB"...): one frozen instance per distinct value.
_money_cache: dict[tuple[str, str], Money] = {}
_MONEY_CACHE_SIZE = 4096


def _step_end(text: str | None, field: str, number: str, index: int = 0) -> datetime | None:
    """A step boundary: None for null, "" or the 9999-12-31 "no further step" marker.

    Most boundaries are unique to their posting (shipment_date plus whole steps), so Ozon's
    usual shape `2026-11-26T22:00:00Z` is read directly and kept out of the date cache (it
    would push out the deadlines that many postings share); anything else takes `_date`.
    """
    if not text or text.startswith(_NO_FURTHER_STEP):
        return None
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass  # `_date` says what is wrong, in its words
        else:  # outside the range of real dates it means "none", as everywhere
            return value if EARLIEST <= value < FAR_FUTURE else None
    return _date(text, field.format(index), number)


def _money(value: wire.Money | str | float | None, currency: str | None = None) -> Money | None:
    """Ozon's money (`{amount, currency}`, or text / a number with a separate currency code)
    as Money; None for null or an empty amount (Ozon's "" for "no charge given")."""
    if isinstance(value, wire.Money):
        amount, currency = value.amount, value.currency or currency
    else:
        amount = value
    if amount is None or amount == "":
        return None
    text = amount if isinstance(amount, str) else repr(amount)
    key = (text, currency or "")
    money = _money_cache.get(key)
    if money is None:
        if len(_money_cache) >= _MONEY_CACHE_SIZE:
            _money_cache.clear()
        money = _money_cache[key] = Money(text, currency or "")
    return money


def _tariff(item: wire.Tariff, number: str) -> Tariff:
    return Tariff(
        current_type=_text(item.current_tariff_type),
        current_rate=item.current_tariff_rate or 0.0,
        current_charge=_money(item.current_tariff_charge, item.current_tariff_charge_currency_code),
        next_type=_text(item.next_tariff_type),
        next_rate=item.next_tariff_rate or 0.0,
        next_charge=_money(item.next_tariff_charge, item.next_tariff_charge_currency_code),
        next_starts_at=_step_end(
            item.next_tariff_starts_at, "tariffication.next_tariff_starts_at", number
        ),
    )


def _steps(items: list[wire.TariffStep], number: str) -> tuple[TariffStep, ...]:
    """`tariffication_steps` as TariffSteps. The hot path (a page has hundreds of postings with
    several steps each): money values come from their cache, and Ozon's usual date shape is
    read inline (see `_step_end`, which takes every other case)."""
    moneys, read = _money_cache, datetime.fromisoformat
    steps: list[TariffStep] = []
    for step in items:
        charge, text = step.tariff_charge, step.tariff_deadline_at
        money: Money | None = None
        ends_at: datetime | None
        if charge is not None:
            key = (charge.amount, charge.currency)
            money = moneys.get(key) or _money(charge)  # type: ignore[arg-type]
        if text and len(text) == 20 and text[10] == "T" and text[19] == "Z" and text[0] != "9":
            try:
                ends_at = read(text)
            except ValueError:
                ends_at = _step_end(text, _STEP_FIELD, number, len(steps))
        else:
            ends_at = _step_end(text, _STEP_FIELD, number, len(steps))
        steps.append(TariffStep(step.tariff_type or "", step.tariff_rate or 0.0, money, ends_at))
    return tuple(steps)


def _requirements(lists: dict[str, Any]) -> tuple[Requirement, ...]:
    """The non-empty `requirements.*` lists (any name, so a list Ozon adds later counts too)
    with their SKUs sorted. SKUs come as numbers or int64 text; one that is neither is left
    out, but its list still counts (the posting still needs that data: never skip a posting
    over it)."""
    found: list[Requirement] = []
    for name, skus in lists.items():
        if skus and isinstance(skus, list):
            found.append(Requirement(name, _skus(skus)))
    return tuple(found)


def _skus(values: list[Any]) -> tuple[int, ...]:
    readable: set[int] = set()
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            readable.add(value)
        elif isinstance(value, str) and value.isdigit():
            readable.add(int(value))
    return tuple(sorted(readable))


def _cancellation(cancelled: wire.Cancellation | None) -> Cancellation | None:
    """None unless Ozon reports a cancellation (a reason id, a reason or a type)."""
    if cancelled is None or not (
        cancelled.cancel_reason_id or cancelled.cancel_reason or cancelled.cancellation_type
    ):
        return None
    return Cancellation(
        reason_id=cancelled.cancel_reason_id or 0,
        reason=_text(cancelled.cancel_reason),
        cancellation_type=_text(cancelled.cancellation_type),
        initiator=_text(cancelled.cancellation_initiator),
        cancelled_after_ship=bool(cancelled.cancelled_after_ship),
        affect_cancellation_rating=bool(cancelled.affect_cancellation_rating),
    )


def _to_product(item: wire.ProductV4 | wire.ProductV3) -> Product:
    price, currency = _price(item)
    return Product(
        sku=item.sku or 0,
        offer_id=_text(item.offer_id),
        name=_text(item.name),
        quantity=item.quantity or 0,
        price=price,
        currency=currency,
    )


def _posting_number_of(raw: bytes) -> str:
    """Best effort: the posting number of a posting we could not decode, or ""."""
    try:
        value = msgspec.json.decode(raw, type=wire.NumberOnly).posting_number
    except msgspec.DecodeError:
        return ""
    return value if isinstance(value, str) else ""


def _decode_one(raw: bytes, shape: type[wire.PostingV4] | type[wire.PostingV3]) -> Posting:
    """Decode and convert one posting; ParseError names the field and the posting."""
    try:
        decoded = wire.decode(raw, shape)
    except msgspec.ValidationError as err:
        field, message = wire.split_validation(err)
        raise ParseError(message, field=field, posting_number=_posting_number_of(raw)) from None
    posting: Posting = _to_posting(decoded)
    return posting


# --------------------------------------------------------------------------- pages


def _problem(err: ParseError) -> PostingProblem:
    number = err.posting_number if _usable_number(err.posting_number) else ""
    return PostingProblem(posting_number=number, field=err.field, message=err.message)


_NOT_IN_A_NUMBER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_NUMBER_LENGTH = 64  # Ozon's are like 87341265-0117-1; a key of the cache and the ledger


def _usable_number(number: str) -> bool:
    """True for text that can serve as a posting's key: no control or line-separator
    characters (SQLite's JSON functions cut a text at NUL) and at most MAX_NUMBER_LENGTH."""
    return len(number) <= MAX_NUMBER_LENGTH and not _NOT_IN_A_NUMBER.search(number)


def _page(
    body: wire.ListBody | wire.RawListBody,
    postings: list[Posting],
    problems: list[PostingProblem],
) -> Page:
    if body.has_next is None:
        raise ParseError("the page has no has_next", field="has_next")
    numbers = {posting.posting_number for posting in postings}
    if len(numbers) < len(postings):  # rare: only then pay for building a new list
        postings = _first_copies(postings, problems)
    return Page(
        postings=postings,
        problems=problems,
        has_next=body.has_next,
        cursor=_text(body.cursor),
        count=body.count,
    )


def _first_copies(postings: list[Posting], problems: list[PostingProblem]) -> list[Posting]:
    """The postings with each number once (its first copy); each repeat becomes a problem."""
    seen: set[str] = set()
    unique: list[Posting] = []
    for posting in postings:
        number = posting.posting_number
        if number in seen:
            problems.append(
                PostingProblem(
                    posting_number=number,
                    field="posting_number",
                    message="the same posting is listed twice on one page; the first copy is used",
                )
            )
            continue
        seen.add(number)
        unique.append(posting)
    return unique


def _parse_v4_page(data: bytes) -> Page:
    try:
        envelope: wire.ListEnvelope = wire.decode(data, wire.ListEnvelope)
    except msgspec.ValidationError:
        return _parse_v4_page_slowly(data)
    body: wire.ListBody = envelope.result if envelope.result is not None else envelope
    postings: list[Posting] = []
    problems: list[PostingProblem] = []
    for item in body.postings or ():
        try:
            postings.append(_to_posting(item))
        except ParseError as err:
            problems.append(_problem(err))
    return _page(body, postings, problems)


def _parse_v4_page_slowly(data: bytes) -> Page:
    """The page did not decode in one go: decode posting by posting to isolate the bad ones."""
    try:
        envelope: wire.RawListEnvelope = wire.decode(data, wire.RawListEnvelope)
    except msgspec.ValidationError as err:
        field, message = wire.split_validation(err)
        raise ParseError(message, field=field.removeprefix("result.")) from None
    body: wire.RawListBody = envelope.result if envelope.result is not None else envelope
    postings: list[Posting] = []
    problems: list[PostingProblem] = []
    for raw in body.postings or ():
        try:
            postings.append(_decode_one(raw, wire.PostingV4))
        except ParseError as err:
            problems.append(_problem(err))
    return _page(body, postings, problems)


def parse_unfulfilled_page(data: bytes) -> Page:
    """Parse a `/v4/posting/fbs/unfulfilled/list` answer (top-level or `result`-wrapped).

    Returns the Page; bad postings are in `page.problems`. Raises NotJSON for a non-JSON body
    and ParseError when the page itself is unusable (e.g. no `has_next`).
    """
    return _parse_v4_page(data)


def parse_list_page(data: bytes) -> Page:
    """Parse a `/v4/posting/fbs/list` answer; same rules as `parse_unfulfilled_page`."""
    return _parse_v4_page(data)


# --------------------------------------------------------------------------- single answers


def parse_get(data: bytes) -> Posting:
    """Parse a `/v3/posting/fbs/get` answer (`{"result": posting}`) into a Posting.

    Raises NotJSON, or ParseError naming the field and posting when it is unusable.
    """
    try:
        envelope: wire.GetEnvelope = wire.decode(data, wire.GetEnvelope)
    except msgspec.ValidationError:
        raw: wire.RawGetEnvelope = _checked(data, wire.RawGetEnvelope)
        if bytes(raw.result).strip() == b"null":
            raise ParseError("the answer has no result", field="result") from None
        return _decode_one(raw.result, wire.PostingV3)
    if envelope.result is None:
        raise ParseError("the answer has no result", field="result")
    return _to_posting(envelope.result)


def _checked(data: bytes, shape: type[Any]) -> Any:
    """Decode or raise ParseError naming the field (for small answers without fallback)."""
    try:
        return wire.decode(data, shape)
    except msgspec.ValidationError as err:
        field, message = wire.split_validation(err)
        raise ParseError(message, field=field) from None


def _reason(item: wire.Reason, field: str, number: str = "") -> CancelReason:
    if item.id is None:
        raise ParseError("a cancel reason has no id", field=field, posting_number=number)
    return CancelReason(
        id=item.id,
        title=_text(item.title),
        type_id=_text(item.type_id),
        available_for_cancellation=item.is_available_for_cancellation,
    )


def parse_cancel_reasons(data: bytes) -> list[PostingCancelReasons]:
    """Parse `/v1/posting/fbs/cancel-reason`: the reasons allowed per posting.

    Raises NotJSON, or ParseError when `result`, a posting number or a reason id is missing.
    """
    envelope: wire.PostingReasonsEnvelope = _checked(data, wire.PostingReasonsEnvelope)
    if envelope.result is None:
        raise ParseError("the answer has no result", field="result")
    answer: list[PostingCancelReasons] = []
    for index, item in enumerate(envelope.result):
        if not item.posting_number:
            raise ParseError(
                "an entry has no posting_number", field=f"result[{index}].posting_number"
            )
        reasons = tuple(
            _reason(reason, f"result[{index}].reasons[{position}].id", item.posting_number)
            for position, reason in enumerate(item.reasons or ())
        )
        answer.append(PostingCancelReasons(posting_number=item.posting_number, reasons=reasons))
    return answer


def parse_cancel_reason_list(data: bytes) -> list[CancelReason]:
    """Parse `/v2/posting/fbs/cancel-reason/list`: every reason with its availability flag.

    Raises NotJSON, or ParseError when `result` or a reason id is missing.
    """
    envelope: wire.ReasonListEnvelope = _checked(data, wire.ReasonListEnvelope)
    if envelope.result is None:
        raise ParseError("the answer has no result", field="result")
    return [_reason(reason, f"result[{index}].id") for index, reason in enumerate(envelope.result)]


def parse_cancel_result(data: bytes) -> bool:
    """Parse `/v2/posting/fbs/cancel`: `{"result": true}` -> True. ParseError if absent."""
    envelope: wire.BoolResult = _checked(data, wire.BoolResult)
    if envelope.result is None:
        raise ParseError("the answer has no result", field="result")
    return envelope.result


def parse_key_info(data: bytes) -> KeyInfo:
    """Parse `/v1/roles`: role names and `expires_at` (None when Ozon does not say).

    Raises NotJSON, or ParseError when `expires_at` is not a date-time.
    """
    envelope: wire.Roles = _checked(data, wire.Roles)
    names = tuple(
        role if isinstance(role, str) else _text(role.name) for role in envelope.roles or ()
    )
    expires_at = _date(envelope.expires_at, "expires_at", "")
    return KeyInfo(roles=tuple(name for name in names if name), expires_at=expires_at)


def parse_error_body(data: bytes) -> tuple[int | str | None, str]:
    """Return Ozon's `(code, message)` from an error body: an `rpcStatus` (`code` a number) or
    the older `{"error": {"code": "ACCESS_DENIED", "message": ...}}` (`code` a name).

    Never raises: a body in neither shape (not JSON, or JSON with neither a code nor a message)
    gives `(None, <its first 200 characters on one line>)`.
    """
    try:
        status = msgspec.json.decode(data, type=wire.ErrorStatus, strict=False)
    except msgspec.DecodeError:
        status = wire.ErrorStatus()
    found: wire.ErrorStatus | wire.LegacyError = status
    if status.code is None and not status.message and status.error is not None:
        found = status.error
    if found.code is None and not found.message:
        text = data[:200].decode("utf-8", "replace").strip()
        return None, " ".join(text.split())
    return found.code, _text(found.message)
