"""The Ozon Seller API client, written as if it were its own library.

    async with OzonClient(client_id="123", api_key=key) as client:
        listing = client.list_unfulfilled(cutoff_from=a, cutoff_to=b, statuses=["awaiting_deliver"])
        async for page in listing:        # Page: postings, problems (skipped postings), cursor
            ...
        listing.completed                 # True only once Ozon said has_next: false

Modules: `client` (OzonClient, Listing), `session` (the HTTP boundary: retries, error
mapping, RequestEvent), `outage` (an outage logged as two lines), `parse` (bytes -> models),
`wire` (the JSON shapes per endpoint), `errors` (the OzonError tree), `ratelimit`
(per-Client-Id limit). This package imports only httpx, msgspec, structlog, tenacity, the
standard library and `daemon.models`; never config, store or policy.
"""

from daemon.ozon.client import (
    DEFAULT_BASE_URL,
    KEY_EXPIRY_WARNING,
    Listing,
    OzonClient,
    RequestEvent,
    key_expires_soon,
)
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
from daemon.ozon.parse import Page, PostingProblem, parse_datetime
from daemon.ozon.ratelimit import RateLimiter

__all__ = [
    "DEFAULT_BASE_URL",
    "KEY_EXPIRY_WARNING",
    "Listing",
    "OzonAPIError",
    "OzonAuthError",
    "OzonCancelOutcomeUnknown",
    "OzonClient",
    "OzonError",
    "OzonNotSent",
    "OzonProtocolError",
    "OzonRateLimited",
    "OzonTransportError",
    "OzonUnavailable",
    "Page",
    "PostingProblem",
    "RateLimiter",
    "RequestEvent",
    "key_expires_soon",
    "parse_datetime",
]
