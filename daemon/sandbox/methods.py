"""The Seller API methods the sandbox serves, as functions from a decoded request to an answer.

Each method gets the sandbox `State` (store, pager, knobs, start time) with its lock held, the
request body (a dict), its raw text (for error positions) and the current sandbox time. It
returns an `Answer` or raises `BadRequest` with Ozon's message. Faults that have nothing to do
with the method (latency, 5xx, drops, auth, rate limits) are the app's business, not this module's.

This module imports only the standard library and the sandbox's own modules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from daemon.sandbox import body as rb
from daemon.sandbox import lifecycle, ratings, wire
from daemon.sandbox.body import BadRequest
from daemon.sandbox.clock import US_PER_S, from_us
from daemon.sandbox.events import Event, Timeline
from daemon.sandbox.knobs import ANY_POSTING, Knobs
from daemon.sandbox.paging import Pager, parse_list, parse_unfulfilled
from daemon.sandbox.store import PostingStore

__all__ = ["METHODS", "Answer", "State", "allowed_reasons", "apply_change"]

JSON = "application/json"
INCORRECT_REASON = "HAS_INCORRECT_CANCEL_REASON"


@dataclass
class Answer:
    """What to send back. `drop` closes the connection instead; `hang` waits first (seconds)."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    hang: float = 0.0


@dataclass
class State:
    """Everything a method may read or change; guarded by the app's lock. `timeline` holds
    the changes still to happen (scenario events, cancels applied late)."""

    store: PostingStore
    pager: Pager
    knobs: Knobs
    start_us: int
    timeline: Timeline


def ok(data: bytes) -> Answer:
    """A 200 answer with a JSON body."""
    return Answer(200, data)


def apply_change(state: State, posting_number: str, change: str, at_us: int) -> None:
    """Apply a named change (`ship`, `pack`, `in_carriage`, `hand_over`, `cancel_by_buyer`)
    to a posting at `at_us`.

    Raises KeyError for an unknown posting and lifecycle.TransitionError when it does not fit.
    """
    posting = state.store.get(posting_number)
    if posting is None:
        raise KeyError(posting_number)
    if change == "ship":
        lifecycle.ship(state.store, posting, at_us)
    elif change == "pack":
        lifecycle.pack(state.store, posting, at_us)
    elif change == "in_carriage":
        lifecycle.in_carriage(state.store, posting, at_us)
    elif change == "hand_over":
        lifecycle.hand_over(state.store, posting, at_us)
    elif change == "cancel_by_buyer":
        lifecycle.cancel(state.store, posting, at_us, "client", lifecycle.BUYER_REASON)
    else:
        raise ValueError(f"unknown change {change!r}")


def allowed_reasons(state: State, posting_number: str) -> tuple[int, ...]:
    """The cancel reason ids allowed for this posting now (empty when it cannot be cancelled)."""
    posting = state.store.get(posting_number)
    if posting is None or not posting.can_cancel:
        return ()
    override = state.knobs.cancel_reasons.get(posting_number)
    return tuple(override) if override is not None else posting.reasons


def _list_answer(state: State, page_body: bytes, page_no: int) -> Answer:
    if state.knobs.malformed_page and page_no == state.knobs.malformed_page:
        return ok(page_body[: len(page_body) // 2])
    if state.knobs.wrap_result:
        return ok(b'{"result":' + page_body + b"}")
    return ok(page_body)


def unfulfilled_list(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v4/posting/fbs/unfulfilled/list."""
    query = parse_unfulfilled(body, raw)
    page = state.pager.page(query)
    listed = [state.store.v4_bytes(p, query.flags, now_us) for p in page.postings]
    if page.page_no == 1:  # a test's hostile postings, as given
        listed += [wire.encode(item) for item in state.knobs.inject_postings]
    items = b",".join(listed)
    head = b'{"postings":[' + items + b'],"cursor":' + wire.encode(page.cursor)
    tail = b',"has_next":' + (b"true" if page.has_next else b"false")
    tail += b',"count":' + str(page.count).encode() + b"}"
    return _list_answer(state, head + tail, page.page_no)


def fbs_list(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v4/posting/fbs/list (no `count` in this answer, as documented)."""
    query = parse_list(body, raw)
    page = state.pager.page(query)
    items = b",".join(state.store.v4_bytes(p, query.flags, now_us) for p in page.postings)
    data = b'{"postings":[' + items + b'],"cursor":' + wire.encode(page.cursor)
    data += b',"has_next":' + (b"true" if page.has_next else b"false") + b"}"
    return _list_answer(state, data, page.page_no)


def _posting_number(body: dict[str, Any], raw: str, request: str) -> str:
    number = rb.get_str(body, "posting_number", raw)
    if not number:
        raise BadRequest(f"invalid {request}.PostingNumber: value length must be at least 1 runes")
    return number


def _not_found_once(knobs: Knobs, number: str) -> bool:
    """Consume a `not_found_on_get` entry for this posting (or for any): True if there was one."""
    for entry in (number, ANY_POSTING):
        if entry in knobs.not_found_on_get:
            knobs.not_found_on_get.remove(entry)
            return True
    return False


def fbs_get(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v3/posting/fbs/get; a `not_found_on_get` knob answers 404 once; a
    `change_on_get` knob for this posting is applied first."""
    number = _posting_number(body, raw, "GetFbsPostingRequest")
    if _not_found_once(state.knobs, number):
        return Answer(404, wire.error_body(5, "posting not found"))
    change = state.knobs.change_on_get.pop(number, None)
    if change is not None:
        # A knob naming a posting that cannot change that way leaves it as it is.
        with contextlib.suppress(KeyError, lifecycle.TransitionError):
            apply_change(state, number, change, now_us)
    posting = state.store.get(number)
    if posting is None:
        return Answer(404, wire.error_body(5, "posting not found"))
    with_ = rb.get_dict(body, "with", raw)
    flags = sum(
        flag
        for name, flag in (
            ("analytics_data", wire.ANALYTICS),
            ("barcodes", wire.BARCODES),
            ("financial_data", wire.FINANCIAL),
            ("legal_info", wire.LEGAL),
            ("related_postings", wire.RELATED),
        )
        if rb.get_bool(with_, name, raw)
    )
    return ok(state.store.get_bytes(posting, flags, now_us))


def cancel_reason(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v1/posting/fbs/cancel-reason: the reasons allowed for each named posting."""
    numbers = body.get("related_posting_numbers")
    if numbers is not None and (
        not isinstance(numbers, list) or any(not isinstance(n, str) for n in numbers)
    ):
        raise BadRequest("proto: syntax error: related_posting_numbers must be an array of strings")
    if not numbers:
        raise BadRequest(
            "invalid PostingCancelReasonRequest.RelatedPostingNumbers: value must contain at "
            "least 1 item(s)"
        )
    result = [wire.posting_reasons(n, allowed_reasons(state, n)) for n in numbers]
    return ok(wire.encode({"result": result}))


def cancel_reason_list(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v2/posting/fbs/cancel-reason/list: every cancel reason."""
    return ok(wire.cancel_reason_list())


def cancel(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v2/posting/fbs/cancel: cancel as the seller, if Ozon would allow it.

    With the `cancel_apply_delay` knob the cancel is taken now and applied that much later (a
    second cancel meanwhile is answered alike and changes nothing); `cancel_outcome` then
    decides whether the caller gets the answer, a closed connection or a long wait.
    """
    number = _posting_number(body, raw, "CancelFbsPostingRequest")
    reason_id = rb.get_int(body, "cancel_reason_id", raw)
    if not reason_id or reason_id < 0:
        raise BadRequest(
            "invalid CancelFbsPostingRequest.CancelReasonId: value must be greater than 0"
        )
    message = rb.get_str(body, "cancel_reason_message", raw)
    posting = state.store.get(number)
    if posting is None:
        return Answer(404, wire.error_body(5, "posting not found"))
    pending = state.timeline.pending("cancel_by_seller", number)
    if not pending and reason_id not in allowed_reasons(state, number):
        raise BadRequest(INCORRECT_REASON)
    if reason_id == 402 and not message.strip():
        raise BadRequest(
            "invalid CancelFbsPostingRequest.CancelReasonMessage: value length must be at least "
            "1 runes when cancel_reason_id is 402"
        )
    delay = round(state.knobs.cancel_apply_delay * US_PER_S)
    if pending:
        pass  # taken already: applies at its moment
    elif delay > 0:
        late = Event(0.0, "cancel_by_seller", number, reason_id=reason_id)
        state.timeline.add_at(late, now_us + delay)
    else:
        lifecycle.cancel(state.store, posting, now_us, "seller", reason_id)
    answer = ok(wire.encode({"result": True}))
    if state.knobs.cancel_answer_next > 0:
        state.knobs.cancel_answer_next -= 1
    elif state.knobs.cancel_outcome == "drop":
        answer.drop = True
    elif state.knobs.cancel_outcome == "hang":
        answer.hang = state.knobs.hang_seconds
    return answer


def roles(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v1/roles: the key's roles (minus forbidden methods) and its `expires_at`."""
    forbidden = set(state.knobs.forbidden_methods)
    methods = [path for path in METHODS if path not in forbidden]
    expires = state.start_us + round(state.knobs.key_expires_in * US_PER_S)
    expires -= expires % US_PER_S
    return ok(
        wire.encode(
            {
                "roles": [
                    {"name": "Posting FBS", "methods": [m for m in methods if "posting" in m]},
                    {"name": "Seller rating", "methods": [m for m in methods if "rating" in m]},
                    {
                        "name": "Roles",
                        "methods": [m for m in methods if "posting" not in m and "rating" not in m],
                    },
                ],
                "expires_at": from_us(expires),
            }
        )
    )


def rating_summary(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v1/rating/summary: the seller's ratings, computed from the postings (knobs)."""
    return ok(wire.encode(ratings.rating_summary(state.store, now_us, state.knobs)))


def error_index(state: State, body: dict[str, Any], raw: str, now_us: int) -> Answer:
    """POST /v1/rating/index/fbs/info: the FBS error index over the last 14 days (knobs)."""
    return ok(wire.encode(ratings.error_index(state.store, now_us, state.knobs)))


Method = Callable[[State, dict[str, Any], str, int], Answer]
METHODS: dict[str, Method] = {
    "/v4/posting/fbs/unfulfilled/list": unfulfilled_list,
    "/v4/posting/fbs/list": fbs_list,
    "/v3/posting/fbs/get": fbs_get,
    "/v1/posting/fbs/cancel-reason": cancel_reason,
    "/v2/posting/fbs/cancel-reason/list": cancel_reason_list,
    "/v2/posting/fbs/cancel": cancel,
    "/v1/roles": roles,
    "/v1/rating/summary": rating_summary,
    "/v1/rating/index/fbs/info": error_index,
}
# Switched off on 2026-06-01; Ozon answers sunset methods like this.
OBSOLETE = ("/v3/posting/fbs/unfulfilled/list", "/v3/posting/fbs/list")
