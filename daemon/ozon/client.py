"""OzonClient: the async Ozon Seller API client for one account (one Client-Id and Api-Key).

Methods return `daemon.models` values; paging stays inside (`Listing`, an async iterator of
pages). Request bodies send int64 ids as the official 2026 document declares them (decimal
strings in list filters, numbers where it says integer). The HTTP boundary (rate limit,
retries, error mapping) is `daemon.ozon.session`; see it for what is retried and when.

This module imports httpx, the standard library, `daemon.models` and `daemon.ozon`'s own
modules; never config, store or policy, and it configures no logging.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from daemon import models
from daemon.models import (
    AccessDenied,
    CancelReason,
    ErrorIndex,
    KeyInfo,
    Posting,
    PostingCancelReasons,
    RatingSummary,
)
from daemon.ozon import parse, ratings
from daemon.ozon.errors import (
    OzonAPIError,
    OzonAuthError,
)
from daemon.ozon.listing import (
    MAX_PERIOD,
    Listing,
    add_filters,
    check_period,
    header_safe,
    rfc3339,
)
from daemon.ozon.parse import Page
from daemon.ozon.pool import lease
from daemon.ozon.ratelimit import RateLimiter, shared_limiter
from daemon.ozon.session import RequestEvent, Session

T = TypeVar("T")

__all__ = [
    "DEFAULT_BASE_URL",
    "KEY_EXPIRY_WARNING",
    "Listing",
    "OzonClient",
    "RequestEvent",
    "key_expires_soon",
]

DEFAULT_BASE_URL = "https://api-seller.ozon.ru"
DEFAULT_TIMEOUT = 30.0  # seconds per HTTP attempt
DEFAULT_RETRY_FOR = 120.0  # seconds of retrying before giving up
DEFAULT_MAX_REQUESTS_PER_SECOND = 20.0  # Ozon allows 50 per Client-Id, shared by every program
PAGE_LIMIT = 100  # the v4 list methods reject more
KEY_EXPIRY_WARNING = timedelta(days=7)

PATH_UNFULFILLED = "/v4/posting/fbs/unfulfilled/list"
PATH_LIST = "/v4/posting/fbs/list"
PATH_GET = "/v3/posting/fbs/get"
PATH_CANCEL_REASON = "/v1/posting/fbs/cancel-reason"
PATH_CANCEL_REASON_LIST = "/v2/posting/fbs/cancel-reason/list"
PATH_CANCEL = "/v2/posting/fbs/cancel"
PATH_ROLES = "/v1/roles"
PATH_RATING_SUMMARY = "/v1/rating/summary"
PATH_ERROR_INDEX = "/v1/rating/index/fbs/info"


def key_expires_soon(
    key: KeyInfo, now: datetime, *, within: timedelta = KEY_EXPIRY_WARNING
) -> bool:
    """True when the key's `expires_at` is known and at most `within` after `now` (or past)."""
    return key.expires_at is not None and key.expires_at - now <= within


class OzonClient:
    """The Ozon Seller API for one account. Use `async with OzonClient(...) as client:`.

    `client_id` and `api_key` go into the `Client-Id` and `Api-Key` headers of every call; the
    key never appears in a repr, log line or error. Every client of one `base_url` shares one
    connection pool (daemon.ozon.pool); all requests of one `(base_url, client_id)`
    in the process share one rate limit of `max_requests_per_second` (unless `rate_limiter` is
    given). `sleep`, `clock` (monotonic seconds), `wall_clock` (aware UTC now), `random`
    (jitter, 0..1) and `transport` (an httpx transport) exist for tests. `on_request` is called
    with a RequestEvent after every HTTP attempt and must be quick; its errors are logged.
    """

    def __init__(
        self,
        client_id: str,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        retry_for: float = DEFAULT_RETRY_FOR,
        max_requests_per_second: float = DEFAULT_MAX_REQUESTS_PER_SECOND,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        random: Callable[[], float] = _random.random,
        on_request: Callable[[RequestEvent], object] | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.client_id = header_safe(str(client_id), "client_id")
        self.base_url = base_url.rstrip("/")
        # Sent with every request over the host's shared pool (daemon.ozon.pool); httpx shows
        # no header in a repr.
        headers = {
            "User-Agent": "ozon-sync",
            "Client-Id": self.client_id,
            "Api-Key": header_safe(api_key, "api_key"),
            "Content-Type": "application/json",
        }
        pool = lease(self.base_url, transport)
        limiter = rate_limiter or shared_limiter(
            self.base_url, self.client_id, max_requests_per_second, clock=clock, sleep=sleep
        )
        self._wall_clock = wall_clock
        self._session = Session(
            pool=pool,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            client_id=self.client_id,
            retry_for=retry_for,
            limiter=limiter,
            sleep=sleep,
            clock=clock,
            wall_clock=wall_clock,
            random=random,
            on_request=on_request,
        )

    def __repr__(self) -> str:
        return f"OzonClient(client_id={self.client_id!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        await self._session.aclose()

    def clock_skew(self) -> float | None:
        """Local minus Ozon's time in seconds, from the last response's `Date` header.

        None before the first response with a readable `Date`. Resolution is one second.
        """
        server, local = self._session.last_server_date, self._session.last_local_date
        if server is None or local is None:
            return None
        return (local - server).total_seconds()

    @property
    def last_server_date(self) -> datetime | None:
        """Ozon's time from the `Date` header of the last response, or None if none yet."""
        return self._session.last_server_date

    # ------------------------------------------------------------------ posting lists

    def list_unfulfilled(
        self,
        *,
        cutoff_from: datetime,
        cutoff_to: datetime,
        statuses: Sequence[str] = (),
        warehouse_ids: Sequence[int | str] = (),
        page_size: int = PAGE_LIMIT,
    ) -> Listing:
        """Page through `/v4/posting/fbs/unfulfilled/list` by shipment deadline (cutoff).

        Given the cutoff window (aware datetimes, at most one year), optional status and
        warehouse filters. Returns a Listing of Pages; see Listing for `completed` and errors.
        Raises ValueError at once for a naive or reversed window or non-integer warehouse ids.
        """
        check_period(cutoff_from, cutoff_to, "cutoff")
        query: dict[str, Any] = {
            "cutoff_from": rfc3339(cutoff_from),
            "cutoff_to": rfc3339(cutoff_to),
        }
        add_filters(query, statuses, warehouse_ids)
        return self._listing(PATH_UNFULFILLED, query, page_size, parse.parse_unfulfilled_page)

    def list_changed(
        self,
        changed_since: datetime,
        *,
        changed_to: datetime | None = None,
        processed_since: datetime | None = None,
        statuses: Sequence[str] = (),
        warehouse_ids: Sequence[int | str] = (),
        page_size: int = PAGE_LIMIT,
    ) -> Listing:
        """Page through `/v4/posting/fbs/list` for postings whose status changed since a time.

        Filters `last_changed_status_date` from `changed_since` to `changed_to` (default: now;
        pass it to know exactly which window was covered). Ozon also requires a processing
        period (`since`/`to`, at most one year): `to` is now + 1 day and `since` is
        `processed_since` (the oldest `in_process_at` still watched; default now - 364 days),
        moved later if needed so the period never exceeds one year. Returns a Listing.
        """
        now = self._wall_clock()
        changed_to = changed_to or now
        if changed_since > changed_to:
            raise ValueError(f"changed_since {changed_since} is after changed_to {changed_to}")
        period_to = now + timedelta(days=1)
        period_since = max(processed_since or now - timedelta(days=364), period_to - MAX_PERIOD)
        query: dict[str, Any] = {
            "since": rfc3339(period_since),
            "to": rfc3339(period_to),
            "last_changed_status_date": {
                "from": rfc3339(changed_since),
                "to": rfc3339(changed_to),
            },
        }
        add_filters(query, statuses, warehouse_ids)
        return self._listing(PATH_LIST, query, page_size, parse.parse_list_page)

    def _listing(
        self, path: str, query: dict[str, Any], page_size: int, parser: Callable[[bytes], Page]
    ) -> Listing:
        if not 1 <= page_size <= PAGE_LIMIT:
            raise ValueError(f"page_size must be 1..{PAGE_LIMIT}: {page_size}")

        async def fetch(cursor: str) -> Page:
            body = {"cursor": cursor, "limit": page_size, "sort_dir": "ASC", "filter": query}
            return await self._session.post(path, body, parser)

        return Listing(fetch, path)

    # ------------------------------------------------------------------ single calls

    async def get(self, posting_number: str) -> Posting:
        """Read one posting from `/v3/posting/fbs/get` (the source of truth for its deadline).

        Raises OzonAPIError (e.g. 404 when Ozon does not know it), OzonProtocolError naming the
        missing field, OzonUnavailable, or another OzonError.
        """
        return await self._session.post(
            PATH_GET, {"posting_number": posting_number}, parse.parse_get
        )

    async def cancel_reasons(self, posting_numbers: Sequence[str]) -> list[PostingCancelReasons]:
        """The cancel reasons Ozon allows for each posting (`/v1/posting/fbs/cancel-reason`).

        Returns one entry per posting Ozon answered for ([] without a call when given none).
        """
        if not posting_numbers:
            return []
        body = {"related_posting_numbers": list(posting_numbers)}
        return await self._session.post(PATH_CANCEL_REASON, body, parse.parse_cancel_reasons)

    async def cancel_reason_list(self) -> list[CancelReason]:
        """Every cancel reason of the account with its availability flag (`/v2/.../list`)."""
        return await self._session.post(PATH_CANCEL_REASON_LIST, {}, parse.parse_cancel_reason_list)

    async def cancel(self, posting_number: str, reason_id: int, message: str = "") -> None:
        """Cancel one posting (`/v2/posting/fbs/cancel`) with a reason id and message.

        One request, never retried here: whoever sends it again must wait, re-read the posting
        and re-check it first. Raises, besides ValueError for a reason Ozon refuses without a
        message
        (`models.cancel_message_problem`: 402 with an empty one):
        - OzonRateLimited (429, `retry_after` is Ozon's hint) or OzonNotSent (no connection,
          `Circle is open`): not applied, may be sent again after a wait and a re-read;
        - OzonAuthError (401/403) or OzonAPIError (400/404/409, or `result: false`): Ozon's
          refusal (e.g. HAS_INCORRECT_CANCEL_REASON);
        - OzonCancelOutcomeUnknown: it may have been applied (timeout or dropped connection
          after sending, 5xx, an unreadable answer, another 4xx such as 408): re-read first.
        """
        problem = models.cancel_message_problem(reason_id, message)
        if problem is not None:
            raise ValueError(f"cancel_reason_message {problem}")
        body = {
            "posting_number": posting_number,
            "cancel_reason_id": int(reason_id),
            "cancel_reason_message": message,
        }
        applied = await self._session.post(
            PATH_CANCEL, body, parse.parse_cancel_result, cancel_of=posting_number
        )
        if not applied:
            raise OzonAPIError(
                200,
                None,
                "result is false",
                PATH_CANCEL,
                text=f"Ozon did not cancel posting {posting_number} ({PATH_CANCEL}: result false)",
            )

    async def key_info(self) -> KeyInfo:
        """The key's roles and expiry from `/v1/roles` (a cheap call that checks the key).

        Raises OzonAuthError when Ozon rejects the key, OzonUnavailable when it cannot be
        reached, or another OzonError.
        """
        return await self._session.post(PATH_ROLES, {}, parse.parse_key_info)

    # ------------------------------------------------------------------ ratings

    async def rating_summary(self) -> RatingSummary | AccessDenied:
        """The seller's current ratings (`/v1/rating/summary`, empty body), among them
        `rating_order_cancellation` and `rating_shipment_delay` with value, status and change.

        Returns AccessDenied when Ozon answers 403 (a key without the rating role: expected,
        not an error). Raises OzonAuthError for 401, OzonUnavailable, OzonProtocolError or
        another OzonError like every read.
        """
        return await self._maybe_denied(PATH_RATING_SUMMARY, ratings.parse_rating_summary)

    async def error_index(self) -> ErrorIndex | AccessDenied:
        """The FBS/rFBS error index and its error-processing fees over Ozon's window
        (`/v1/rating/index/fbs/info`, empty body; the index is as Ozon sent it).

        Returns AccessDenied when Ozon answers 403 (a key without the role). Raises like
        `rating_summary`.
        """
        return await self._maybe_denied(PATH_ERROR_INDEX, ratings.parse_error_index)

    async def _maybe_denied(self, path: str, parser: Callable[[bytes], T]) -> T | AccessDenied:
        try:
            return await self._session.post(path, {}, parser)
        except OzonAuthError as err:
            if err.status != 403:
                raise
            return AccessDenied(path=path, code=err.code, message=err.message)
