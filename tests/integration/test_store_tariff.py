"""The cache keeps Ozon's JSON of a posting's shipping-speed tariff only once the posting is
past its deadline (issue 20): that is when the ship-or-cancel advice of `status --json` and the
board needs it; before, it is read from the posting just synced (alerts), and a row without it
is a quarter of the size."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.ozon.parse import parse_list_page
from daemon.store import Store
from daemon.views import status_json
from tests.conftest import OZON_FIXTURES

H = timedelta(hours=1)


def official_posting() -> bytes:
    """The fixture posting with Ozon's full tariff timeline (due 2026-11-26T10:00:00Z)."""
    page = json.loads((OZON_FIXTURES / "v4_unfulfilled_list.response.page1.json").read_text())
    return json.dumps({"postings": [page["postings"][1]], "has_next": False}).encode()


def test_the_tariff_is_kept_only_past_the_deadline_and_then_read_by_the_advice(
    tmp_path: Path,
) -> None:
    (posting,) = parse_list_page(official_posting()).postings
    due = posting.shipment_date
    assert posting.tariff_steps and posting.next_tariff_starts_at is not None
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        before = due - 3 * H
        assert len(store.upsert_postings("shop-1", [posting], before).new) == 1
        (early,) = store.postings(before)
        again = store.upsert_postings("shop-1", [posting], before + H)
        late_time = due + 13 * H
        late_write = store.upsert_postings("shop-1", [posting], late_time)
        (late,) = store.postings(late_time)
        unchanged = store.upsert_postings("shop-1", [posting], late_time + H)
        size = store._read
        with size() as conn:
            (length,) = conn.execute("SELECT length(data) FROM postings").fetchone()
    assert early.posting.tariff_steps == () and early.posting.tariff is None
    assert early.posting.next_tariff_starts_at == posting.next_tariff_starts_at  # kept, read
    assert again.unchanged == 1
    assert [c.posting.posting_number for c in late_write.changed] == [posting.posting_number]
    assert late.posting == posting  # the whole posting, tariff JSON included
    assert unchanged.unchanged == 1
    assert length > 1000
    (element,) = status_json([late], late_time)
    advice, step = element["advice"], posting.tariff_step_at(late_time)
    assert step is not None and step.charge is not None and step.tariff_type == "commission"
    assert advice is not None and advice["surcharge"] == [step.charge.amount, "RUB"]
    (early_element,) = status_json([early], before)
    assert early_element["advice"] is None


def test_a_posting_without_a_deadline_never_keeps_its_tariff(tmp_path: Path) -> None:
    page = json.loads(official_posting())
    page["postings"][0]["shipment_date"] = "9999-12-31T23:59:59Z"
    (posting,) = parse_list_page(json.dumps(page).encode()).postings
    now = datetime(2026, 12, 3, tzinfo=UTC)
    with Store.open(tmp_path / "s.db", mode="writer") as store:
        store.upsert_postings("shop-1", [posting], now)
        (cached,) = store.postings(now)
    assert cached.posting.tariff_steps == ()
