"""The HTTP boundary of the Ozon client: one POST with rate limit, retries and error mapping.

`Session.post(path, body, parser)` is the only code that talks httpx. Each attempt:

    rate limit -> POST -> classify -> (return parser(bytes) | raise | wait and retry)

Reads are retried on transport errors, 500/502/503/504, a 2xx body that is not JSON, 429 (after
`Retry-After`, capped at RETRY_AFTER_MAX) and Ozon's `Circle is open` (at least
CIRCLE_OPEN_WAIT), otherwise with capped exponential backoff and jitter, for at most
`retry_for` seconds; then OzonUnavailable (or the last OzonRateLimited). 401/403 and other 4xx
are raised at once. With `cancel_of` (a cancel) a request is re-sent only when it surely never
reached Ozon (connection not established) or Ozon refused it with 429; an unclear outcome
raises OzonCancelOutcomeUnknown. Every httpx exception is translated here.

This module imports httpx, msgspec, structlog, the standard library and `daemon.ozon`'s own
errors, parse and ratelimit modules.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msgspec
import structlog

from daemon.ozon.errors import (
    OzonAPIError,
    OzonAuthError,
    OzonCancelOutcomeUnknown,
    OzonError,
    OzonProtocolError,
    OzonRateLimited,
    OzonTransportError,
    OzonUnavailable,
)
from daemon.ozon.parse import NotJSON, ParseError, parse_error_body
from daemon.ozon.ratelimit import RateLimiter

__all__ = ["RequestEvent", "Session"]

log = structlog.get_logger(__name__)

RETRY_WAIT_FIRST = 1.0  # backoff: 1, 2, 4 ... seconds (with jitter), at most RETRY_WAIT_MAX
RETRY_WAIT_MAX = 30.0
RETRY_AFTER_MAX = 30.0  # cap on Ozon's Retry-After
CIRCLE_OPEN_WAIT = 60.0  # "Circle is open": the method is blocked for a few minutes
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})

T = TypeVar("T")


class RequestEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP attempt, for metrics: `on_request(event)` is called after every attempt.

    `status` is None when no response came (timeout, connection error); `retried` is True when
    the client will try again; `duration` is in seconds of the injected clock.
    """

    method: str
    path: str
    status: int | None
    attempt: int
    duration: float
    retried: bool


@dataclass(slots=True)
class _Failure:
    """One failed attempt: the error to raise and whether (and how) to retry it."""

    error: OzonError
    retry: bool = False
    wait: float | None = None  # a fixed wait (Retry-After); None means exponential backoff
    circle_open: bool = False


class Session:
    """POSTs JSON to one Ozon account with the client's headers, limits and retry rules.

    Built by OzonClient; `headers` hold the Api-Key and are never logged or shown.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        headers: Mapping[str, str],
        client_id: str,
        retry_for: float,
        limiter: RateLimiter,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        random: Callable[[], float],
        on_request: Callable[[RequestEvent], object] | None,
    ) -> None:
        self._http = http
        self._headers = dict(headers)
        self._client_id = client_id
        self.retry_for = retry_for
        self._limiter = limiter
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._random = random
        self._on_request = on_request
        self.last_server_date: datetime | None = None
        self.last_local_date: datetime | None = None

    def __repr__(self) -> str:
        return f"Session(client_id={self._client_id!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        parser: Callable[[bytes], T],
        *,
        cancel_of: str | None = None,
    ) -> T:
        """POST `body` to `path`, retrying as the module docstring says.

        Returns `parser(response bytes)` of the first 2xx. `cancel_of` (a posting number) marks
        a cancel, which is never re-sent when it may have reached Ozon. Raises an OzonError.
        """
        content = msgspec.json.encode(body)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            sent = self._clock()
            status: int | None = None
            try:
                response = await self._http.post(path, content=content, headers=self._headers)
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as err:
                self._limiter.answered()
                failure = self._transport_failure(path, err, cancel_of)
            else:
                self._limiter.answered()
                _release(response)
                status = response.status_code
                self._note_date(response)
                if 200 <= status < 300:
                    try:
                        value = parser(response.content)
                    except (NotJSON, ParseError) as err:
                        failure = self._parse_failure(path, status, err, cancel_of)
                    else:
                        self._report(path, status, attempt, self._clock() - sent, retried=False)
                        return value
                else:
                    failure = self._status_failure(path, response, cancel_of)

            wait = 0.0
            if failure.retry:
                wait = self._wait(attempt, failure)
                elapsed = self._clock() - started
                if elapsed >= self.retry_for:
                    failure.retry = False
                    failure.error = self._give_up(path, failure.error, attempt, elapsed)
                elif elapsed + wait > self.retry_for:
                    # one last attempt at the end of retry_for rather than giving up early
                    wait = self.retry_for - elapsed
            self._report(path, status, attempt, self._clock() - sent, retried=failure.retry)
            if not failure.retry:
                raise failure.error
            log.warning(
                "ozon_retry",
                client_id=self._client_id,
                path=path,
                status=status,
                attempt=attempt,
                wait=round(wait, 3),
                error=str(failure.error),
            )
            await self._sleep(wait)

    def _wait(self, attempt: int, failure: _Failure) -> float:
        if failure.wait is not None:
            return failure.wait
        base = min(RETRY_WAIT_MAX, RETRY_WAIT_FIRST * 2.0 ** min(attempt - 1, 30))
        if failure.circle_open:
            base = max(base, CIRCLE_OPEN_WAIT)
        # "Equal jitter": somewhere in the upper half, so waits still grow.
        return base / 2 + self._random() * base / 2

    def _give_up(self, path: str, error: OzonError, attempts: int, elapsed: float) -> OzonError:
        if isinstance(error, OzonRateLimited):
            return error
        unavailable = OzonUnavailable(
            f"Ozon gave no usable answer on {path} after {attempts} attempt(s) in"
            f" {elapsed:.0f} s; last: {error}",
            path=path,
            attempts=attempts,
            elapsed=elapsed,
            status=getattr(error, "status", None),
            code=getattr(error, "code", None),
            message=getattr(error, "message", ""),
        )
        unavailable.__cause__ = error
        return unavailable

    def _transport_failure(self, path: str, err: Exception, cancel_of: str | None) -> _Failure:
        what = _describe(err)
        if isinstance(err, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            error = OzonError(f"Cannot send a request to {path} ({what}); check base_url")
            error.__cause__ = err
            return _Failure(error)
        never_sent = isinstance(err, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if cancel_of is not None and not never_sent:
            unknown = OzonCancelOutcomeUnknown(cancel_of, path, f"{what} after sending")
            unknown.__cause__ = err
            return _Failure(unknown)
        error = OzonTransportError(f"No answer from Ozon on {path} ({what})", path=path)
        error.__cause__ = err
        return _Failure(error, retry=True)

    def _parse_failure(
        self, path: str, status: int, err: ParseError | NotJSON, cancel_of: str | None
    ) -> _Failure:
        if cancel_of is not None:
            return _Failure(
                OzonCancelOutcomeUnknown(cancel_of, path, f"unusable {status} answer: {err}")
            )
        if isinstance(err, NotJSON):
            error = OzonTransportError(
                f"Ozon's {status} answer on {path} is not JSON", path=path, status=status
            )
            return _Failure(error, retry=True)
        return _Failure(
            OzonProtocolError(
                status,
                None,
                err.message,
                path,
                field=err.field,
                posting_number=err.posting_number,
            )
        )

    def _status_failure(
        self, path: str, response: httpx.Response, cancel_of: str | None
    ) -> _Failure:
        status = response.status_code
        code, message = parse_error_body(response.content)
        circle_open = "circle is open" in message.lower()
        detail = f"code {code}, {message!r}" if code is not None else repr(message)
        if status in (401, 403):
            return _Failure(
                OzonAuthError(
                    status,
                    code,
                    message,
                    path,
                    text=f"Ozon rejected the API key of Client-Id {self._client_id} ({status} on"
                    f" {path}: {detail}); check the key, its roles and IP restrictions",
                )
            )
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"), self._wall_clock())
            limited = OzonRateLimited(
                status,
                code,
                message,
                path,
                retry_after=retry_after,
                text=f"Ozon rate-limited Client-Id {self._client_id} (429 on {path}: {detail})",
            )
            wait = None if retry_after is None else min(retry_after, RETRY_AFTER_MAX)
            return _Failure(limited, retry=True, wait=wait, circle_open=circle_open)
        if cancel_of is not None and status >= 500:
            return _Failure(
                OzonCancelOutcomeUnknown(
                    cancel_of, path, f"Ozon answered {status}: {detail}", status=status
                )
            )
        if cancel_of is None and (status in RETRYABLE_STATUSES or circle_open):
            error = OzonTransportError(
                f"Ozon answered {status} on {path} ({detail})",
                path=path,
                status=status,
                code=code,
                message=message,
            )
            return _Failure(error, retry=True, circle_open=circle_open)
        return _Failure(OzonAPIError(status, code, message, path))

    def _note_date(self, response: httpx.Response) -> None:
        header = response.headers.get("Date")
        if not header:
            return
        try:
            server = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        self.last_server_date = server
        self.last_local_date = self._wall_clock()

    def _report(
        self, path: str, status: int | None, attempt: int, duration: float, *, retried: bool
    ) -> None:
        if self._on_request is None:
            return
        event = RequestEvent(
            method="POST",
            path=path,
            status=status,
            attempt=attempt,
            duration=duration,
            retried=retried,
        )
        try:
            self._on_request(event)
        except Exception as err:  # noqa: BLE001 - a metrics hook must never break a request
            log.warning("ozon_on_request_failed", path=path, error=repr(err))


_SPENT = httpx.ByteStream(b"")


def _release(response: httpx.Response) -> None:
    """Drop the response's spent connection stream, which refers back to the response: without
    that cycle the response and its body (a page is hundreds of KB) are freed as soon as we are
    done with them, instead of piling up until the garbage collector's next full pass."""
    response.stream = _SPENT


def _describe(err: Exception) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
