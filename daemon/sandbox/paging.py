"""The two v4 list methods: their filters, Ozon's rules about them, cursors and keyset pages.

`parse_unfulfilled` / `parse_list` turn a request body into a `Query` (or raise `BadRequest`
with Ozon's message); `Pager.page` answers a query from the store's indexes. Cursors are opaque
base64 JSON naming the keyset fields like Ozon's (`osp.cutoff`, `osp.in_process_at`, `osp.id`)
plus the page number; paging is stable while postings change (keyset, not offset).

This module imports only the standard library and the sandbox's body, clock, index, model and
store modules.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from daemon.sandbox import body as rb
from daemon.sandbox.body import BadRequest
from daemon.sandbox.clock import US_PER_S, format_us, parse_rfc3339
from daemon.sandbox.index import Key
from daemon.sandbox.model import UNFULFILLED_STATUSES, SimPosting
from daemon.sandbox.store import PostingStore, list_key, open_key
from daemon.sandbox.wire import ANALYTICS, BARCODES, FINANCIAL, LEGAL

__all__ = ["Page", "Pager", "Query", "parse_list", "parse_unfulfilled"]

MAX_PERIOD_US = 365 * 86_400 * US_PER_S
MISSING_WINDOW = "either filter.cutoff or filter.delivering_date must be specified"
BOTH_WINDOWS = "the mismatch between cutoff & delivery date"
_OPEN_FIELDS = ("osp.cutoff", "osp.in_process_at", "osp.id")
_LIST_FIELDS = ("osp.in_process_at", "osp.id")
Window = tuple[int, int]


@dataclass(frozen=True)
class Query:
    """One list request, decoded. `window` is on the first key field (cutoff or in_process_at)."""

    unfulfilled: bool
    limit: int
    statuses: frozenset[str] | None = None
    window: Window | None = None
    delivering: Window | None = None
    changed: Window | None = None
    warehouse_ids: frozenset[int] | None = None
    delivery_method_ids: frozenset[int] | None = None
    provider_ids: frozenset[int] | None = None
    order_id: int | None = None
    order_numbers: frozenset[str] | None = None
    flows: frozenset[str] | None = None
    blr_traceable: bool = False
    descending: bool = False
    after: Key | None = None
    page_no: int = 1
    flags: int = 0


@dataclass(frozen=True)
class Page:
    """One page: its postings, whether more follow, the next cursor and the total count."""

    postings: list[SimPosting]
    has_next: bool
    cursor: str
    count: int
    page_no: int


def _limit(body: dict[str, Any], raw: str, request: str) -> int:
    limit = rb.get_int(body, "limit", raw)
    if limit is None or not 1 <= limit <= 100:
        raise BadRequest(f"invalid {request}.Limit: value must be inside range [1, 100]")
    return limit


def _window(low: int | None, high: int | None, *, capped: bool = True) -> Window | None:
    if low is None or high is None:
        return None
    if capped and high - low > MAX_PERIOD_US:
        raise BadRequest("PERIOD_IS_TOO_LONG")
    return (low, high)


def _flags(body: dict[str, Any], raw: str) -> int:
    with_ = rb.get_dict(body, "with", raw)
    names = (
        ("analytics_data", ANALYTICS),
        ("barcodes", BARCODES),
        ("financial_data", FINANCIAL),
        ("legal_info", LEGAL),
    )
    return sum(flag for name, flag in names if rb.get_bool(with_, name, raw))


def _common(body: dict[str, Any], raw: str, filt: dict[str, Any]) -> dict[str, Any]:
    sort_dir = rb.get_str(body, "sort_dir", raw).upper() or "ASC"
    if sort_dir not in ("ASC", "DESC"):
        raise BadRequest(f'invalid value for enum field sort_dir: "{body.get("sort_dir")}"')
    rb.get_bool(body, "translit", raw)
    changed = rb.get_dict(filt, "last_changed_status_date", raw)
    return {
        "statuses": rb.get_strs(filt, "statuses", raw),
        "changed": _window(
            rb.get_time(changed, "from", raw, "filter.last_changed_status_date.from"),
            rb.get_time(changed, "to", raw, "filter.last_changed_status_date.to"),
            capped=False,
        ),
        "warehouse_ids": rb.get_ids(filt, "warehouse_ids", raw),
        "delivery_method_ids": rb.get_ids(filt, "delivery_method_ids", raw),
        "provider_ids": rb.get_ids(filt, "provider_ids", raw),
        "descending": sort_dir == "DESC",
        "flags": _flags(body, raw),
    }


def _with_cursor(query: Query, body: dict[str, Any], raw: str) -> Query:
    token = rb.get_str(body, "cursor", raw)
    if not token:
        return query
    names = _OPEN_FIELDS if query.unfulfilled else _LIST_FIELDS
    direction = "desc" if query.descending else "asc"
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        fields = data["fields"]
        if [f["name"] for f in fields] != list(names) or any(f["dir"] != direction for f in fields):
            raise ValueError("cursor of another method or sort direction")
        values = [parse_rfc3339(f["val"]) for f in fields[:-1]]
        after = (*values, int(fields[-1]["val"]))
        page_no = int(data.get("page", 1)) + 1
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as err:
        raise BadRequest("invalid cursor") from err
    return replace(query, after=after, page_no=page_no)


def parse_unfulfilled(body: dict[str, Any], raw: str) -> Query:
    """Decode a `/v4/posting/fbs/unfulfilled/list` request; BadRequest with Ozon's message."""
    limit = _limit(body, raw, "PostingFbsUnfulfilledListRequest")
    filt = rb.get_dict(body, "filter", raw)
    common = _common(body, raw, filt)
    cut = [rb.get_time(filt, f"cutoff_{e}", raw, f"filter.cutoff_{e}") for e in ("from", "to")]
    dlv = [
        rb.get_time(filt, f"delivering_date_{e}", raw, f"filter.delivering_date_{e}")
        for e in ("from", "to")
    ]
    cutoff, delivering = _window(*cut), _window(*dlv)
    if cutoff is None and delivering is None:
        raise BadRequest(MISSING_WINDOW)
    if (cutoff is not None and dlv != [None, None]) or (delivering and cut != [None, None]):
        raise BadRequest(BOTH_WINDOWS)
    query = Query(True, limit, window=cutoff, delivering=delivering, **common)
    return _with_cursor(query, body, raw)


def parse_list(body: dict[str, Any], raw: str) -> Query:
    """Decode a `/v4/posting/fbs/list` request; BadRequest with Ozon's message."""
    limit = _limit(body, raw, "PostingFbsListRequest")
    filt = rb.get_dict(body, "filter", raw)
    since = rb.get_time(filt, "since", raw, "filter.since")
    to = rb.get_time(filt, "to", raw, "filter.to")
    if since is None or to is None:
        raise BadRequest(
            "invalid PostingFbsListRequest.Filter: filter.since and filter.to are required"
        )
    if to < since:
        raise BadRequest("filter.since must not be later than filter.to")
    query = Query(
        False,
        limit,
        window=_window(since, to),
        order_id=rb.get_int(filt, "order_id", raw) or None,
        order_numbers=rb.get_strs(filt, "order_numbers", raw),
        flows=rb.get_strs(filt, "integration_type_flow", raw),
        blr_traceable=rb.get_bool(filt, "is_blr_traceable", raw),
        **_common(body, raw, filt),
    )
    return _with_cursor(query, body, raw)


def _cursor(query: Query, key: Key) -> str:
    names = _OPEN_FIELDS if query.unfulfilled else _LIST_FIELDS
    direction = "desc" if query.descending else "asc"
    vals = [format_us(v) for v in key[:-1]] + [str(key[-1])]
    fields = [{"name": n, "dir": direction, "val": v} for n, v in zip(names, vals, strict=True)]
    text = json.dumps({"fields": fields, "page": query.page_no}, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def _residual(query: Query) -> Callable[[SimPosting], bool] | None:
    """The filters the index cannot answer, as one predicate (None when there are none)."""
    checks: list[Callable[[SimPosting], bool]] = []
    warehouses, methods, providers = (
        query.warehouse_ids,
        query.delivery_method_ids,
        query.provider_ids,
    )
    delivering, order_id, orders, flows = (
        query.delivering,
        query.order_id,
        query.order_numbers,
        query.flows,
    )
    if warehouses is not None:
        checks.append(lambda p: p.route.warehouse_id in warehouses)
    if methods is not None:
        checks.append(lambda p: p.route.id in methods)
    if providers is not None:
        checks.append(lambda p: p.route.tpl_provider_id in providers)
    if delivering is not None:
        checks.append(
            lambda p: (
                p.delivering_date is not None
                and delivering[0] <= p.delivering_date <= delivering[1]
            )
        )
    if order_id is not None:
        checks.append(lambda p: p.order_id == order_id)
    if orders is not None:
        checks.append(lambda p: p.order_number in orders)
    if flows is not None:
        checks.append(lambda p: p.route.tpl_integration_type in flows)
    if query.blr_traceable:
        checks.append(lambda p: False)
    if not checks:
        return None
    return lambda p: all(check(p) for check in checks)


class Pager:
    """Answers list queries from a store; caches total counts per filter and store version."""

    def __init__(self, store: PostingStore) -> None:
        self.store = store
        self._counts: dict[tuple[Query, int], int] = {}

    def page(self, query: Query) -> Page:
        """Return the page `query` asks for (the caller holds the store's lock)."""
        keyf = open_key if query.unfulfilled else list_key
        index = self.store.open_index if query.unfulfilled else self.store.all_index
        wanted = UNFULFILLED_STATUSES if query.unfulfilled else None
        statuses = [
            s
            for s in (query.statuses or wanted or index.statuses())
            if wanted is None or s in wanted
        ]
        low, high = query.window if query.window else (None, None)
        test = _residual(query)
        if query.changed is not None:
            picked = set(statuses)
            keys = sorted(
                keyf(p)
                for p in self.store.changed_between(*query.changed)
                if p.status in picked
                and (low is None or high is None or low <= keyf(p)[0] <= high)
                and (test is None or test(p))
            )
            count = len(keys)
            if query.descending:
                end = len(keys) if query.after is None else bisect_left(keys, query.after)
                chosen = keys[max(0, end - query.limit - 1) : end][::-1]
            else:
                start = 0 if query.after is None else bisect_right(keys, query.after)
                chosen = keys[start : start + query.limit + 1]
            found = [self.store.by_id(k[-1]) for k in chosen]
        else:
            found = []
            for key in index.scan(statuses, low, high, query.after, query.descending):
                posting = self.store.by_id(key[-1])
                if test is None or test(posting):
                    found.append(posting)
                    if len(found) > query.limit:
                        break
            count = self._count(query, statuses, low, high, test) if query.unfulfilled else 0
        has_next = len(found) > query.limit
        found = found[: query.limit]
        cursor = _cursor(query, keyf(found[-1])) if has_next else ""
        return Page(found, has_next, cursor, count, query.page_no)

    def _count(
        self,
        query: Query,
        statuses: list[str],
        low: int | None,
        high: int | None,
        test: Callable[[SimPosting], bool] | None,
    ) -> int:
        index = self.store.open_index
        if test is None:
            return index.count(statuses, low, high)
        cache_key = (replace(query, after=None, page_no=1, flags=0), self.store.version)
        if cache_key not in self._counts:
            if len(self._counts) > 64:
                self._counts.clear()
            self._counts[cache_key] = sum(
                1 for key in index.scan(statuses, low, high) if test(self.store.by_id(key[-1]))
            )
        return self._counts[cache_key]
