"""Every error the Ozon client raises. No httpx exception escapes `daemon.ozon`.

```
OzonError                       anything that went wrong talking to Ozon
├── OzonTransportError          no usable answer (network, timeout, 5xx, body not JSON): retryable
│   ├── OzonNotSent             ... and surely without effect: no connection, `Circle is open`
│   └── OzonUnavailable         ... and retrying for `retry_for` seconds did not help
├── OzonAPIError                Ozon answered with an error (status, code, message, path)
│   ├── OzonAuthError           401/403: key invalid, deactivated, missing a role; never retried
│   ├── OzonRateLimited         429 (a read: still 429 when `retry_for` ran out); not applied
│   └── OzonProtocolError       an answer we cannot use: unreadable shape or a missing field
└── OzonCancelOutcomeUnknown    a cancel may or may not have been applied; re-read the posting
```

A cancel is never retried by the client. Its outcome is one of: done (no error), not applied
and safe to try again after a wait and a re-read (`OzonRateLimited`, `OzonNotSent`), refused
(`OzonAuthError`, another `OzonAPIError`: Ozon's documented "no"), or unknown
(`OzonCancelOutcomeUnknown`).

`code` and `message` are Ozon's own, kept as sent: `code` is the `rpcStatus` number, or the
name (`ACCESS_DENIED`) of the older `{"error": {...}}` body. Messages name the method path, the
HTTP status and what to do; they never contain the Api-Key.

This module imports only the standard library.
"""

from __future__ import annotations

__all__ = [
    "OzonAPIError",
    "OzonAuthError",
    "OzonCancelOutcomeUnknown",
    "OzonError",
    "OzonNotSent",
    "OzonProtocolError",
    "OzonRateLimited",
    "OzonTransportError",
    "OzonUnavailable",
]


class OzonError(Exception):
    """Base class: something went wrong talking to the Ozon Seller API."""


class OzonTransportError(OzonError):
    """No usable answer: connection failed, timed out, a 5xx, or a body that is not JSON.

    Retryable. `status` is the HTTP status when there was a response, else None.
    """

    def __init__(
        self,
        text: str,
        *,
        path: str,
        status: int | None = None,
        code: int | str | None = None,
        message: str = "",
    ) -> None:
        super().__init__(text)
        self.path = path
        self.status = status
        self.code = code
        self.message = message


class OzonNotSent(OzonTransportError):
    """The request surely had no effect at Ozon: the connection was never established, or Ozon
    turned the method away unprocessed (`Circle is open` with a 4xx). A read is retried; a
    cancel raises it at once (wait, re-read the posting, then it may be sent again)."""


class OzonUnavailable(OzonTransportError):
    """Ozon gave no usable answer for `retry_for` seconds; `attempts` requests were made."""

    def __init__(
        self,
        text: str,
        *,
        path: str,
        attempts: int,
        elapsed: float,
        status: int | None = None,
        code: int | str | None = None,
        message: str = "",
    ) -> None:
        super().__init__(text, path=path, status=status, code=code, message=message)
        self.attempts = attempts
        self.elapsed = elapsed


class OzonAPIError(OzonError):
    """Ozon answered `path` with HTTP `status` and its error `code` and `message`.

    Not retried (except the subclass OzonRateLimited, which the client retries first).
    """

    def __init__(
        self,
        status: int,
        code: int | str | None,
        message: str,
        path: str,
        *,
        text: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.path = path
        if text is None:
            code_part = f"code {code}, " if code is not None else ""
            text = f"Ozon answered {status} on {path} ({code_part}{message!r})"
        super().__init__(text)


class OzonAuthError(OzonAPIError):
    """401/403: the key is invalid, deactivated, IP-restricted or lacks a role. Never retried."""


class OzonRateLimited(OzonAPIError):
    """429: the Client-Id's request budget is used up. `retry_after` is Ozon's hint in seconds.

    The request was not applied. A read is retried first; a cancel raises it at once.
    """

    def __init__(
        self,
        status: int,
        code: int | str | None,
        message: str,
        path: str,
        *,
        retry_after: float | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(status, code, message, path, text=text)
        self.retry_after = retry_after


class OzonProtocolError(OzonAPIError):
    """An answer we cannot use: the body has the wrong shape or lacks a field we rely on.

    `field` names the field (e.g. `shipment_date`, `products[0].sku`, `has_next`) and
    `posting_number` the posting concerned ("" when unknown or not about one posting).
    """

    def __init__(
        self,
        status: int,
        code: int | str | None,
        message: str,
        path: str,
        *,
        field: str = "",
        posting_number: str = "",
        text: str | None = None,
    ) -> None:
        self.field = field
        self.posting_number = posting_number
        if text is None:
            about = f" for posting {posting_number}" if posting_number else ""
            text = f"Ozon's answer on {path} is unusable{about}: {message}"
        super().__init__(status, code, message, path, text=text)


class OzonCancelOutcomeUnknown(OzonError):
    """A cancel request may have reached Ozon but no answer says whether it was applied.

    Raised on a timeout or dropped connection after sending, a 5xx, an unreadable answer, or a
    4xx that is not one of Ozon's documented refusals (e.g. 408; `status` says which). The
    cancel is NOT re-sent: re-read the posting (`get`) and treat "cancelled" as done.
    """

    def __init__(
        self, posting_number: str, path: str, detail: str, *, status: int | None = None
    ) -> None:
        self.posting_number = posting_number
        self.path = path
        self.detail = detail
        self.status = status
        super().__init__(
            f"The cancel of posting {posting_number} may or may not have been applied by Ozon"
            f" ({detail} on {path}); re-read the posting before trying again"
        )
