"""One measured peer listing in a fresh process of the peers' venv; prints one JSON line.

    bench/.peers-venv/bin/python bench/peer_worker.py ozon_sdk '{"base_url": ...}'

Lists every unfulfilled posting with the same filter as ozon-sync's cycle (cutoff window of
-90 d .. +180 d, statuses awaiting_packaging and awaiting_deliver, 100 per page), counting the
postings and keeping nothing. Standard library plus the peer only (this venv has no ozon-sync).

Both peers decode `optional.products_with_possible_mandatory_mark` strictly as a list of
strings (the 2026 schema says `string`/int64, protobuf-JSON style) while Ozon's own example, and
the sandbox, send numbers: without help both stop with a validation error at the first posting
that has one (2 % of the bulk scenario). With `"patch": true` the worker turns those numbers
into strings in the decoded JSON before the peer validates it (a walk over the page's postings,
well under 1 us per posting, counted in the peer's CPU); with `"patch": false` it reports the
failure and how far the peer got.

- `ozon_sdk` (ozon-sdk): `SellerAPI(client_id, api_key, base_url=...)`, then
  `api.posting_fbs_unfulfilled_list(filter_=..., limit=100, sort_dir="ASC")` iterated with
  `async for` (its own cursor paging). Unthrottled by raising its default limit of 2 requests
  per second per path: `ozon_sdk.base.session.DEFAULT_RATE_LIMIT = (1000, 100_000)`.
- `ozonapi_async` (ozonapi-async): `SellerAPI(config=SellerAPIConfig(base_url=..., ...))` and
  `api.posting_fbs_unfulfilled_list(PostingFBSUnfulfilledListRequest(...))` in a cursor loop.
  Its config refuses more than 50 requests per second and every client also shares a
  per-Client-Id limiter fixed at the default 27; unthrottled by replacing both aiolimiter
  limiters of the instance with ones allowing 100,000 per second.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

STATUSES = ["awaiting_deliver", "awaiting_packaging"]
UNTHROTTLED = 100_000


def _window() -> tuple[str, str]:
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (now - timedelta(days=90)).strftime(fmt), (now + timedelta(days=180)).strftime(fmt)


def _stringify_marks(data: Any) -> Any:
    """Numbers in `optional.products_with_possible_mandatory_mark` as strings (see above)."""
    if isinstance(data, dict):
        for posting in data.get("postings") or ():
            optional = posting.get("optional") if isinstance(posting, dict) else None
            marks = optional.get("products_with_possible_mandatory_mark") if optional else None
            if marks:
                optional["products_with_possible_mandatory_mark"] = [str(m) for m in marks]
    return data


class Counted:
    """Postings listed so far (reported when the peer fails part way)."""

    postings = 0


def measure(work: Callable[[], Any]) -> dict[str, Any]:
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try:
        value = work()
    except Exception as err:  # noqa: BLE001 - a peer's failure is a result to report
        return {"failed": f"{type(err).__name__}: {err}"[:600], "listed_before": Counted.postings}
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "spans": {"cycle": {"wall": wall, "cpu": cpu}},
        "peak_rss_mb": after.ru_maxrss / 1024,
        "listed": value,
    }


def job_ozon_sdk(args: dict[str, Any]) -> dict[str, Any]:
    # ozon-sdk is built on httpx: import what httpx imports lazily before the measured span,
    # as bench/worker.py does for ozon-sync and the floors (ozonapi-async imports everything
    # up front).
    import anyio._backends._asyncio  # noqa: F401
    import h11  # noqa: F401
    import httpcore  # noqa: F401
    import ozon_sdk.base.session as sdk_session
    from ozon_sdk import SellerAPI
    from ozon_sdk.seller_api.basic.models import PostingV4PostingFbsUnfulfilledListRequestFilter

    sdk_session.DEFAULT_RATE_LIMIT = (1000, UNTHROTTLED)  # (interval ms, requests): 2/s/path
    if args.get("patch"):
        handle = sdk_session.BaseSession._handle

        def tolerant(self: Any, response: Any, method: str, path: str) -> Any:
            return _stringify_marks(handle(self, response, method, path))

        sdk_session.BaseSession._handle = tolerant  # type: ignore[method-assign]
    cutoff_from, cutoff_to = _window()

    async def run() -> int:
        api = SellerAPI(args["client_id"], args["api_key"], base_url=args["base_url"])
        try:
            listing = api.posting_fbs_unfulfilled_list(
                filter_=PostingV4PostingFbsUnfulfilledListRequestFilter(
                    cutoff_from=cutoff_from, cutoff_to=cutoff_to, statuses=STATUSES
                ),
                limit=100,
                sort_dir="ASC",
            )
            count = 0
            async for _posting in listing:
                count += 1
                Counted.postings = count
            return count
        finally:
            await api._session.close()

    return measure(lambda: asyncio.run(run()))


def job_ozonapi_async(args: dict[str, Any]) -> dict[str, Any]:
    from aiolimiter import AsyncLimiter
    from ozonapi import SellerAPI, SellerAPIConfig
    from ozonapi.seller.schemas.fbs import (
        PostingFBSUnfulfilledListFilter,
        PostingFBSUnfulfilledListRequest,
    )

    cutoff_from, cutoff_to = _window()
    if args.get("patch"):
        request = SellerAPI._request

        async def tolerant(self: Any, *a: Any, **kw: Any) -> Any:
            return _stringify_marks(await request(self, *a, **kw))

        SellerAPI._request = tolerant  # type: ignore[method-assign]

    async def run() -> int:
        config = SellerAPIConfig(
            client_id=args["client_id"],
            api_key=args["api_key"],
            base_url=args["base_url"],
            max_requests_per_second=50,  # its maximum
        )
        count = 0
        async with SellerAPI(config=config) as api:
            limits = api._rate_limiter
            limits._instance_limiter = AsyncLimiter(UNTHROTTLED, 1)
            limits._client_limiter = AsyncLimiter(UNTHROTTLED, 1)
            cursor = ""
            while True:
                page = await api.posting_fbs_unfulfilled_list(
                    PostingFBSUnfulfilledListRequest(
                        cursor=cursor,
                        filter=PostingFBSUnfulfilledListFilter(
                            cutoff_from=cutoff_from, cutoff_to=cutoff_to, statuses=STATUSES
                        ),
                        limit=100,
                        sort_dir="ASC",
                    )
                )
                count += len(page.postings or ())
                Counted.postings = count
                if not page.has_next:
                    return count
                cursor = page.cursor

    return measure(lambda: asyncio.run(run()))


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ozon_sdk": job_ozon_sdk,
    "ozonapi_async": job_ozonapi_async,
}


def main() -> None:
    """peer_worker.py KIND 'JSON ARGS'"""
    kind, raw = sys.argv[1], sys.argv[2]
    report = JOBS[kind](json.loads(raw))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
