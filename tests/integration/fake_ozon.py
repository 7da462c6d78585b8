"""A respx-backed fake of the Ozon posting methods for in-process cycle tests.

Tests set `postings` (number -> JSON dict in the v4 list shape) and call the cycle with any
`now`; the fake pages the unfulfilled list, answers the changed list from `changed`, `get`
from `postings` or `departed`, and can fail a chosen page. No network: respx intercepts httpx.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import respx

from tests.conftest import OZON_FIXTURES

BASE_URL = "http://127.0.0.1:9"

_TEMPLATE: dict[str, Any] = json.loads(
    (OZON_FIXTURES / "v4_unfulfilled_list.response.page1.json").read_text(encoding="utf-8")
)["postings"][1]


def rfc(moment: datetime) -> str:
    """RFC 3339 UTC with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def posting(
    number: str,
    shipment_date: datetime,
    status: str = "awaiting_packaging",
    **fields: Any,
) -> dict[str, Any]:
    """A v4 posting dict from the fixture template with the given number, deadline, status."""
    data = copy.deepcopy(_TEMPLATE)
    data.update(
        posting_number=number,
        order_number=number.rsplit("-", 1)[0],
        status=status,
        shipment_date=rfc(shipment_date),
        parent_posting_number="",
        **fields,
    )
    return data


class FakeOzon:
    """The fake's state and its respx routes; use as a context manager."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.postings: dict[str, dict[str, Any]] = {}
        self.departed: dict[str, dict[str, Any]] = {}
        self.fail_page: int | None = None
        self.changed_visible = True
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.router = respx.mock(base_url=BASE_URL, assert_all_called=False)

    def __enter__(self) -> FakeOzon:
        self.router.__enter__()
        self.router.post("/v4/posting/fbs/unfulfilled/list").mock(side_effect=self._unfulfilled)
        self.router.post("/v4/posting/fbs/list").mock(side_effect=self._changed)
        self.router.post("/v3/posting/fbs/get").mock(side_effect=self._get)
        return self

    def __exit__(self, *exc: object) -> None:
        self.router.__exit__(*exc)

    def add(self, data: dict[str, Any]) -> None:
        """Put a posting on the unfulfilled list."""
        self.postings[data["posting_number"]] = data

    def leave(self, number: str, status: str, **fields: Any) -> None:
        """Take a posting off the unfulfilled list with a final status (shipped, cancelled)."""
        data = self.postings.pop(number)
        data.update(status=status, **fields)
        self.departed[number] = data

    def calls_to(self, path: str) -> int:
        """How many requests went to `path`."""
        return sum(1 for called, _ in self.calls if called == path)

    def _unfulfilled(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(("/v4/posting/fbs/unfulfilled/list", body))
        start = int(body.get("cursor") or 0)
        page = start // self.page_size + 1
        if self.fail_page == page:
            return httpx.Response(500, json={"code": 13, "message": "Internal error"})
        window = body["filter"]
        ordered = sorted(
            (
                p
                for p in self.postings.values()
                if window["cutoff_from"] <= p["shipment_date"] <= window["cutoff_to"]
            ),
            key=lambda p: (p["shipment_date"], p["posting_number"]),
        )
        chunk = ordered[start : start + self.page_size]
        has_next = start + self.page_size < len(ordered)
        return httpx.Response(
            200,
            json={
                "postings": chunk,
                "cursor": str(start + self.page_size) if has_next else "",
                "has_next": has_next,
                "count": len(ordered),
            },
        )

    def _changed(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(("/v4/posting/fbs/list", body))
        changed = list(self.departed.values()) if self.changed_visible else []
        return httpx.Response(200, json={"postings": changed, "cursor": "", "has_next": False})

    def _get(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(("/v3/posting/fbs/get", body))
        number = body["posting_number"]
        data = self.postings.get(number) or self.departed.get(number)
        if data is None:
            return httpx.Response(404, json={"code": 5, "message": "POSTING_NOT_FOUND"})
        return httpx.Response(200, json={"result": data})
