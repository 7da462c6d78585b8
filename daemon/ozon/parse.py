"""Ozon response bytes -> `daemon.models` values: tolerant where Ozon varies, strict where we rely.

Each endpoint has its own wire Structs (`daemon.ozon.wire`: the "same" field differs between
methods: `price` is an object `{amount, currency}` in v4 lists and a string plus
`currency_code` in `/v3/.../get` (seen in list pages too; the currency is kept from either);
`tariffication` is an object or an array; `prr_option` a string or an object and not read at
all). Wire Structs declare only what we read, every field optional, so unknown fields and
`null` pass; `strict=False` lets int64 ids arrive as numbers or strings; enum-like strings stay
open.

Strict: a posting without `posting_number`, `status` or `shipment_date`, or with a date that is
not RFC 3339, is a problem (`daemon.ozon.posting` converts one posting, `daemon.ozon.dates`
reads and range-checks its dates). In a list page that one posting is skipped and reported as
a `PostingProblem`; a single-posting answer raises `ParseError`. A body that is not JSON raises
`NotJSON` (the client retries those like a 5xx). A posting number listed twice on one page
keeps the first usable copy; the repeat is reported as a problem of field `posting_number`.

Speed: a page is decoded in one `msgspec` call (dates stay text and go through a small cache,
since many postings share a deadline; the shipping-speed tariff stays raw JSON, read on demand
by `daemon.tariff`). Only if that fails is the page decoded again posting by posting
(`msgspec.Raw`), so one bad posting never costs the others.

This module imports msgspec, the standard library, `daemon.models` and `daemon.ozon`'s wire,
dates and posting modules; never httpx or config.
"""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.models import CancelReason, KeyInfo, Posting, PostingCancelReasons
from daemon.ozon import wire
from daemon.ozon.dates import optional_date, parse_datetime
from daemon.ozon.posting import decode_one, to_posting, usable_number
from daemon.ozon.wire import NotJSON, ParseError

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


def _text(value: str | None) -> str:
    return value if value is not None else ""


# --------------------------------------------------------------------------- pages


def _problem(err: ParseError) -> PostingProblem:
    number = err.posting_number if usable_number(err.posting_number) else ""
    return PostingProblem(posting_number=number, field=err.field, message=err.message)


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
            postings.append(to_posting(item))
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
            postings.append(decode_one(raw, wire.PostingV4))
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
        return decode_one(raw.result, wire.PostingV3)
    if envelope.result is None:
        raise ParseError("the answer has no result", field="result")
    return to_posting(envelope.result)


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
    expires_at = optional_date(envelope.expires_at, "expires_at", "")
    return KeyInfo(roles=tuple(name for name in names if name), expires_at=expires_at)


def parse_error_body(data: bytes) -> tuple[int | str | None, str]:
    """Return Ozon's `(code, message)` from an error body: an `rpcStatus` (`code` a number) or
    the older `{"error": {"code": "ACCESS_DENIED", "message": ...}}` (`code` a name).

    Never raises: a body in neither shape (not JSON, or JSON with neither a code nor a message)
    gives `(None, <its first 200 characters on one line>)`.
    """
    try:
        status = msgspec.json.decode(data, type=wire.ErrorStatus, strict=False)
    except (msgspec.DecodeError, RecursionError):
        status = wire.ErrorStatus()
    found: wire.ErrorStatus | wire.LegacyError = status
    if status.code is None and not status.message and status.error is not None:
        found = status.error
    if found.code is None and not found.message:
        text = data[:200].decode("utf-8", "replace").strip()
        return None, " ".join(text.split())
    return found.code, _text(found.message)
