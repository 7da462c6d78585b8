"""What an alert shows besides the deadline (issue 20) travels in the payload of each posting it
describes, worked out only for those (the first PAYLOAD_POSTINGS of an event): an overdue
alert of thousands of postings does not weigh the advice of every one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.alerts import Event
from daemon.alerts.batch import PAYLOAD_POSTINGS, batch
from daemon.models import LedgerKey, Posting
from daemon.store import Store

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def test_details_are_worked_out_only_for_the_postings_a_payload_describes(tmp_path: Path) -> None:
    asked: list[str] = []

    def details_of(number: str) -> Any:
        def work() -> dict[str, Any]:
            asked.append(number)
            return {"advice": {"recommendation": "ship", "of": number}}

        return work

    count = PAYLOAD_POSTINGS + 30
    postings = [
        Posting(
            posting_number=f"{index:04d}-1",
            status="awaiting_packaging",
            shipment_date=NOW - timedelta(minutes=count - index),  # the first is the most late
        )
        for index in range(count)
    ]
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        with batch(store, "shop-1", NOW) as alerts:
            for posting in postings:
                key = LedgerKey(posting.posting_number, Event.OVERDUE, "#0")
                alerts.add(Event.OVERDUE, key, posting, "late",
                           details=details_of(posting.posting_number))  # fmt: skip
            alerts.add(Event.OVERDUE, key, postings[-1], "repeat")  # a key already added
        (row,) = store.staged_alerts("shop-1")
    described = row.payload["postings"]
    assert row.payload["total"] == count
    assert len(described) == PAYLOAD_POSTINGS
    assert sorted(asked) == sorted(item["posting_number"] for item in described)
    assert all(item["advice"]["of"] == item["posting_number"] for item in described)
    assert [item["posting_number"] for item in described][:2] == ["0000-1", "0001-1"]
