"""The HTTP boundary of the Ozon client: one POST with rate limit, retries and error mapping.

`Session.post(path, body, parser)` is the only code that talks httpx. Each attempt:

    rate limit -> POST -> classify -> return parser(bytes) | raise an OzonError

Reads are retried by tenacity (`AsyncRetrying`) on transport errors, 500/502/503/504, a 2xx
body that is not JSON, 429 (after `Retry-After`, capped at RETRY_AFTER_MAX) and Ozon's
`Circle is open` (at least CIRCLE_OPEN_WAIT), otherwise with capped exponential backoff and
jitter, for at most `retry_for` seconds, the last attempt at its end; then OzonUnavailable (or
the last OzonRateLimited). 401/403 and other 4xx are raised at once. A cancel (`cancel_of`) is
never retried: one attempt, whose outcome the errors module's tree tells (not applied: 429 or a
connection never made; refused: a documented 4xx; unknown: anything that may have reached Ozon).
Every httpx exception is translated here.

A retry logs a debug line (`ozon_retry`); an outage is logged by `daemon.ozon.outage`.

This module imports httpx, msgspec, structlog, tenacity, the standard library and
`daemon.ozon`'s own errors, outage, parse, pool and ratelimit modules.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NoReturn, TypeVar, cast

import httpx
import msgspec
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from daemon.ozon.errors import (
    OzonAPIError,
    OzonAuthError,
    OzonCancelOutcomeUnknown,
    OzonError,
    OzonNotSent,
    OzonProtocolError,
    OzonRateLimited,
    OzonTransportError,
    OzonUnavailable,
)
from daemon.ozon.outage import Outage
from daemon.ozon.parse import NotJSON, ParseError, parse_error_body
from daemon.ozon.pool import Lease
from daemon.ozon.ratelimit import RateLimiter, retry_after

__all__ = ["RequestEvent", "Session"]

log = structlog.get_logger(__name__)

RETRY_WAIT_FIRST = 1.0  # backoff: 1, 2, 4 ... seconds (with jitter), at most RETRY_WAIT_MAX
RETRY_WAIT_MAX = 30.0
RETRY_AFTER_MAX = 30.0  # cap on Ozon's Retry-After
CIRCLE_OPEN_WAIT = 60.0  # "Circle is open": the method is blocked for a few minutes
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
CANCEL_REFUSALS = frozenset({400, 404, 409})  # the cancel's documented "no" (besides 401/403)

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
class _Call(Generic[T]):
    """One `post` call: what to send, and its latest attempt (for reports and the budget)."""

    path: str
    content: bytes
    parser: Callable[[bytes], T]
    cancel_of: str | None
    started: float
    attempt: int = 0
    failed: OzonError | None = None
    status: int | None = None
    duration: float = 0.0


_RETRYABLE = (OzonTransportError, OzonRateLimited)


def _retryable(error: BaseException | None) -> bool:
    return isinstance(error, _RETRYABLE)


class Session:
    """POSTs JSON to one Ozon account with the client's limits and retry rules.

    Built by OzonClient; `pool` is its lease on the host's connection pool, `headers` (the
    Api-Key among them, never logged) and `timeout` go with every request.
    """

    def __init__(
        self,
        *,
        pool: Lease,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        client_id: str,
        retry_for: float,
        limiter: RateLimiter,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        random: Callable[[], float],
        on_request: Callable[[RequestEvent], object] | None,
    ) -> None:
        self._pool = pool
        self._http = pool.http
        self._headers = dict(headers)
        self._timeout = timeout
        bounds = (timeout.connect, timeout.read, timeout.write, timeout.pool)
        self._deadline = max((bound for bound in bounds if bound is not None), default=30.0)
        self._client_id = client_id
        self.retry_for = retry_for
        self._limiter = limiter
        self._clock = clock
        self._wall_clock = wall_clock
        self._random = random
        self._on_request = on_request
        self._outage = Outage(client_id, clock)
        self._backoff = wait_exponential(multiplier=RETRY_WAIT_FIRST, max=RETRY_WAIT_MAX)
        self._retrying = AsyncRetrying(
            sleep=cast(Callable[[float], Awaitable[None]], sleep),
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=self._stop,
            before_sleep=self._before_sleep,
            retry_error_callback=self._give_up,
        )
        self._date_header = ""
        self.last_server_date: datetime | None = None
        self.last_local_date: datetime | None = None

    def __repr__(self) -> str:
        return f"Session(client_id={self._client_id!r})"

    async def aclose(self) -> None:
        """Give the connection pool back (the last user closes it)."""
        await self._pool.aclose()

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        parser: Callable[[bytes], T],
        *,
        cancel_of: str | None = None,
    ) -> T:
        """POST `body` to `path`, retrying reads as the module docstring says.

        Returns `parser(response bytes)` of the first 2xx. `cancel_of` (a posting number) marks
        a cancel: one attempt, never retried. Raises an OzonError.
        """
        call = _Call(path, msgspec.json.encode(body), parser, cancel_of, self._clock())
        if cancel_of is not None:
            return await self._attempt(call)
        # The first attempt runs before tenacity: nearly every call ends with it, and
        # AsyncRetrying costs tens of microseconds a call. A retryable failure hands the call
        # over, as tenacity's first attempt (a copy per call: it keeps state on the object).
        try:
            return await self._attempt(call)
        except _RETRYABLE as error:
            call.failed = error
        return cast(T, await self._retrying.copy()(self._attempt, call))

    async def _attempt(self, call: _Call[T]) -> T:
        if call.failed is not None:  # the first attempt, made before tenacity took over
            failed, call.failed = call.failed, None
            raise failed
        call.attempt += 1
        await self._limiter.acquire()
        sent = self._clock()
        try:
            value = await self._exchange(call)
        except OzonError as error:
            call.duration = self._clock() - sent
            self._outage.note(call.path, error)
            if call.cancel_of is not None or not _retryable(error):
                self._report(call, retried=False)  # else tenacity's callbacks report it
            raise
        call.duration = self._clock() - sent
        self._report(call, retried=False)
        if self._outage.failures:
            self._outage.note(call.path, None)
        return value

    async def _exchange(self, call: _Call[T]) -> T:
        """One POST: the parsed answer, or the OzonError it maps to."""
        call.status = None
        try:
            # httpx bounds each read, not the exchange: a server dripping its answer a byte at a
            # time would hold one request for minutes. `timeout` bounds the whole exchange.
            async with asyncio.timeout(self._deadline):
                response = await self._http.post(
                    call.path, content=call.content, headers=self._headers, timeout=self._timeout
                )
        except TimeoutError as err:
            self._limiter.answered()
            late = httpx.ReadTimeout(f"no complete answer within {self._deadline:g} s")
            raise self._transport_error(call, late) from err
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as err:
            self._limiter.answered()
            raise self._transport_error(call, err) from err
        self._limiter.answered()
        _release(response)
        call.status = status = response.status_code
        self._note_date(response)
        if not 200 <= status < 300:
            raise self._status_error(call, response)
        try:
            return call.parser(response.content)
        except (NotJSON, ParseError) as err:
            raise self._parse_error(call, status, err) from err

    # -- tenacity's strategies (reads only) ----------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        error = _error_of(state)
        if isinstance(error, OzonRateLimited) and error.retry_after is not None:
            wait = min(error.retry_after, RETRY_AFTER_MAX)
        else:
            base = self._backoff(state)
            if "circle is open" in getattr(error, "message", "").lower():
                base = max(base, CIRCLE_OPEN_WAIT)
            # "Equal jitter": somewhere in the upper half, so waits still grow.
            wait = base / 2 + self._random() * base / 2
        # One last attempt at the end of retry_for rather than giving up early.
        left = self.retry_for - (self._clock() - _call_of(state).started)
        return max(0.0, min(wait, left))

    def _stop(self, state: RetryCallState) -> bool:
        return self._clock() - _call_of(state).started >= self.retry_for

    def _before_sleep(self, state: RetryCallState) -> None:
        call = _call_of(state)
        self._report(call, retried=True)
        log.debug(
            "ozon_retry",
            client_id=self._client_id,
            path=call.path,
            status=call.status,
            attempt=call.attempt,
            wait=round(state.upcoming_sleep, 3),
            error=str(_error_of(state)),
        )

    def _give_up(self, state: RetryCallState) -> NoReturn:
        call, error = _call_of(state), _error_of(state)
        self._report(call, retried=False)
        if isinstance(error, OzonRateLimited):
            raise error
        elapsed = self._clock() - call.started
        raise OzonUnavailable(
            f"Ozon gave no usable answer on {call.path} after {call.attempt} attempt(s) in"
            f" {elapsed:.0f} s; last: {error}",
            path=call.path,
            attempts=call.attempt,
            elapsed=elapsed,
            status=getattr(error, "status", None),
            code=getattr(error, "code", None),
            message=getattr(error, "message", ""),
        ) from error

    # -- error mapping -------------------------------------------------------------------------

    def _transport_error(self, call: _Call[T], err: Exception) -> OzonError:
        path, what = call.path, _describe(err)
        if isinstance(err, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            return OzonError(f"Cannot send a request to {path} ({what}); check base_url")
        if isinstance(err, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return OzonNotSent(f"No connection to Ozon for {path} ({what}); not sent", path=path)
        if call.cancel_of is not None:
            return OzonCancelOutcomeUnknown(call.cancel_of, path, f"{what} after sending")
        return OzonTransportError(f"No answer from Ozon on {path} ({what})", path=path)

    def _parse_error(self, call: _Call[T], status: int, err: ParseError | NotJSON) -> OzonError:
        if call.cancel_of is not None:
            detail = f"unusable {status} answer: {err}"
            return OzonCancelOutcomeUnknown(call.cancel_of, call.path, detail, status=status)
        if isinstance(err, NotJSON):
            text = f"Ozon's {status} answer on {call.path} is not JSON"
            return OzonTransportError(text, path=call.path, status=status)
        return OzonProtocolError(
            status,
            None,
            err.message,
            call.path,
            field=err.field,
            posting_number=err.posting_number,
        )

    def _status_error(self, call: _Call[T], response: httpx.Response) -> OzonError:
        path, status = call.path, response.status_code
        code, message = parse_error_body(response.content)
        detail = f"code {code}, {message!r}" if code is not None else repr(message)
        if status in (401, 403):
            return OzonAuthError(
                status,
                code,
                message,
                path,
                text=f"Ozon rejected the API key of Client-Id {self._client_id} ({status} on"
                f" {path}: {detail}); check the key, its roles and IP restrictions",
            )
        if status == 429:
            return OzonRateLimited(
                status,
                code,
                message,
                path,
                retry_after=retry_after(response.headers.get("Retry-After"), self._wall_clock()),
                text=f"Ozon rate-limited Client-Id {self._client_id} (429 on {path}: {detail})",
            )
        circle_open = "circle is open" in message.lower()
        if call.cancel_of is not None and status >= 500:
            detail = f"Ozon answered {status}: {detail}"
            return OzonCancelOutcomeUnknown(call.cancel_of, path, detail, status=status)
        text = f"Ozon answered {status} on {path} ({detail})"
        if circle_open and status < 500:  # the method is blocked: turned away unprocessed
            return OzonNotSent(text, path=path, status=status, code=code, message=message)
        if call.cancel_of is not None and status not in CANCEL_REFUSALS:
            detail = f"Ozon answered {status}, not a documented refusal: {detail}"
            return OzonCancelOutcomeUnknown(call.cancel_of, path, detail, status=status)
        if call.cancel_of is None and (status in RETRYABLE_STATUSES or circle_open):
            return OzonTransportError(text, path=path, status=status, code=code, message=message)
        return OzonAPIError(status, code, message, path)

    # -- reporting -----------------------------------------------------------------------------

    def _note_date(self, response: httpx.Response) -> None:
        header = response.headers.get("Date")
        if not header:
            return
        if header != self._date_header:  # one second's answers share one Date: parse it once
            try:
                server = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                return
            self._date_header = header
            self.last_server_date = server if server.tzinfo else server.replace(tzinfo=UTC)
        self.last_local_date = self._wall_clock()

    def _report(self, call: _Call[T], *, retried: bool) -> None:
        if self._on_request is None:
            return
        try:
            self._on_request(
                RequestEvent(
                    method="POST",
                    path=call.path,
                    status=call.status,
                    attempt=call.attempt,
                    duration=call.duration,
                    retried=retried,
                )
            )
        except Exception as err:  # noqa: BLE001 - a metrics hook must never break a request
            log.warning("ozon_on_request_failed", path=call.path, error=repr(err))


def _call_of(state: RetryCallState) -> _Call[Any]:
    return cast(_Call[Any], state.args[0])


def _error_of(state: RetryCallState) -> BaseException | None:
    return None if state.outcome is None else state.outcome.exception()


_SPENT = httpx.ByteStream(b"")


def _release(response: httpx.Response) -> None:
    """Drop the response's spent connection stream, which refers back to the response: without
    that cycle the response and its body (a page is hundreds of KB) are freed as soon as we are
    done with them, instead of piling up until the garbage collector's next full pass."""
    response.stream = _SPENT


def _describe(err: Exception) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
