"""One HTTP connection pool per Ozon host for every account of the process.

Each account has its own OzonClient (its Client-Id, Api-Key, rate limit, retries), but the
connections to `api-seller.ozon.ru` are the same whoever asks: with a pool per account, 500
accounts polled every few minutes each paid a fresh TCP and TLS handshake per cycle (their
idle connections expire long before the account's next cycle) and held up to 500 x its pool's
sockets. `lease(base_url)` hands out one `httpx.AsyncClient` per base URL and event loop,
shared by every client of that loop; the account's headers go with each request instead. The
pool closes when its last lease is given back (`Lease.aclose()`), so a reload that rebuilds
every client keeps it warm only while an old or new client holds it.

A loop's pools are kept in a WeakKeyDictionary of the loop: a pool never outlives, nor is handed
to, another loop (tests run many). Outside a running loop there is nothing to share, so
`lease` gives a private pool.

This module imports httpx and the standard library.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from dataclasses import dataclass, field

import httpx

__all__ = ["POOL_LIMITS", "Lease", "lease", "open_pools"]

# Connections to one host shared by every account: enough for the cycles that overlap (each
# account sends one request at a time), few idle sockets kept, and kept long enough that the
# next account's cycle (a few seconds later with hundreds of accounts spread over the poll
# interval) reuses one instead of a new TLS handshake.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=32, keepalive_expiry=20)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The verifying TLS context every https pool of the process shares: building one reads
    the whole CA bundle (about 20 ms). A plain-http base URL (the sandbox on 127.0.0.1)
    never uses TLS, so its pools get none (`verify=False`, no bundle read)."""
    return httpx.create_ssl_context()


def _new_pool(base_url: str, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        limits=POOL_LIMITS,
        verify=_tls_context() if base_url.startswith("https:") else False,
    )


@dataclass
class _Shared:
    http: httpx.AsyncClient
    users: int = 0


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class Lease:
    """One client's use of a pool: `http` to send with, `aclose()` when done (once)."""

    http: httpx.AsyncClient
    _shared: _Shared | None = None
    _pools: dict[str, _Shared] | None = field(default=None, repr=False)
    _key: str = ""
    _closed: bool = False

    async def aclose(self) -> None:
        """Give the pool back; the last lease of a shared pool (or a private one) closes it."""
        if self._closed:
            return
        self._closed = True
        shared = self._shared
        if shared is None:
            await self.http.aclose()
            return
        shared.users -= 1
        if shared.users == 0:
            if self._pools is not None and self._pools.get(self._key) is shared:
                del self._pools[self._key]
            await shared.http.aclose()


def lease(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> Lease:
    """A lease on the pool of `base_url` for the running loop. With a `transport` (tests) or
    outside a running loop, a private pool that `aclose()` closes."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if transport is not None or loop is None:
        return Lease(_new_pool(base_url, transport))
    pools = _POOLS.setdefault(loop, {})
    shared = pools.get(base_url)
    if shared is None or shared.http.is_closed:
        shared = pools[base_url] = _Shared(_new_pool(base_url, None))
    shared.users += 1
    return Lease(shared.http, shared, pools, base_url)


def open_pools() -> int:
    """How many shared pools the running loop holds (for tests and benchmarks)."""
    try:
        return len(_POOLS.get(asyncio.get_running_loop(), {}))
    except RuntimeError:
        return 0
