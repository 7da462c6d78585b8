"""The daily digest: due at digest_at in the configured zone, once per account and local day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.digest import queue_due_digests
from daemon.job import AccountJob
from daemon.ozon.client import OzonClient
from daemon.ozon.parse import parse_unfulfilled_page
from daemon.policy import Rules
from daemon.store import Store
from tests.integration.fake_ozon import posting

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE = time(9, 0)


async def test_digest_is_queued_once_per_local_day_after_digest_at(tmp_path: Path) -> None:
    day = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    async with OzonClient("1", "k", base_url="http://127.0.0.1:9") as client:
        jobs = [AccountJob("a", client, Rules()), AccountJob("b", client, Rules())]
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            page = parse_unfulfilled_page(
                json.dumps(
                    {"postings": [posting("9-1", day + timedelta(hours=5))], "has_next": False}
                ).encode()
            )
            store.upsert_postings("a", page.postings, day)
            assert queue_due_digests(store, jobs, SHANGHAI, NINE, day) == []
            at_nine = day + timedelta(minutes=30)
            assert queue_due_digests(store, jobs, SHANGHAI, NINE, at_nine) == ["a", "b"]
            assert (
                queue_due_digests(store, jobs, SHANGHAI, NINE, at_nine + timedelta(hours=3)) == []
            )
            tomorrow = at_nine + timedelta(days=1)
            assert queue_due_digests(store, jobs, SHANGHAI, NINE, tomorrow) == ["a", "b"]
            digests = [e for e in store.history(10) if e.event == "digest"]
    assert [e.account for e in digests] == ["b", "a", "b", "a"]
    assert "1 watched" in digests[-1].reason
    assert "1 due within 24h" in digests[-1].reason
