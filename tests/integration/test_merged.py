"""Every shard's database seen as one (daemon.merged), on real SQLite files: `status` takes each
account from the database that synced it last, `history` merges newest first, `hold` and `ack`
reach the database that caches the posting, `hold --all` every one, and a shard database made
after M changed starts with the others' holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon import hold as holding
from daemon.merged import Databases
from daemon.models import Posting
from daemon.store import Store
from daemon.web.data import BoardData, UnknownPosting

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(hours=3)


def posting(number: str, hours: float = 3) -> Posting:
    return Posting(posting_number=number, status="awaiting_packaging",
                   shipment_date=NOW + timedelta(hours=hours))  # fmt: skip


@pytest.fixture
def shards(tmp_path: Path) -> Databases:
    """Shard 0 has shop-a; shard 1 has shop-b, and an old copy of shop-a (it moved to 0)."""
    paths = (tmp_path / "ozon-sync-0.db", tmp_path / "ozon-sync-1.db")
    with Store.open(paths[0]) as zero:
        zero.upsert_postings("shop-a", [posting("1-1-1"), posting("1-1-2", 1)], NOW)
        zero.record_sync_success("shop-a", NOW)
    with Store.open(paths[1]) as one:
        one.upsert_postings("shop-b", [posting("2-1-1", 2)], NOW)
        one.record_sync_success("shop-b", NOW)
        one.upsert_postings("shop-a", [posting("1-9-9")], NOW - timedelta(days=1))
        one.record_sync_success("shop-a", NOW - timedelta(days=1))
    return Databases(paths)


def test_status_takes_each_account_from_the_database_that_synced_it_last(
    shards: Databases,
) -> None:
    view = shards.status(NOW, include_departed=False)
    assert [p.posting_number for p in view.postings] == ["1-1-2", "2-1-1", "1-1-1"]
    assert {s.account: s.last_success_at for s in view.states} == {"shop-a": NOW, "shop-b": NOW}
    assert view.hold_all is None


def test_hold_and_ack_reach_the_database_caching_the_posting(shards: Databases) -> None:
    target = shards.hold("2-1-1", None, NOW, force=False)
    assert target.numbers == ("2-1-1",)
    with Store.open(shards.paths[1], mode="reader") as one:
        assert one.is_held("2-1-1", NOW)
    with Store.open(shards.paths[0], mode="reader") as zero:
        assert not zero.is_held("2-1-1", NOW)
    acked = shards.acknowledge("1-1-1", "Li", NOW)
    assert [p.account for p in acked.postings] == ["shop-a"]
    with pytest.raises(holding.HoldRefused, match="no cached posting is numbered 7-7-7"):
        shards.hold("7-7-7", None, NOW, force=False)
    forced = shards.hold("7-7-7", None, NOW, force=True)  # not synced yet: every database
    assert forced.numbers == ("7-7-7",)
    for path in shards.paths:
        with Store.open(path, mode="reader") as store:
            assert store.is_held("7-7-7", NOW)
    assert shards.release("7-7-7") == ["7-7-7"]


def test_hold_all_and_release_all_reach_every_database(shards: Databases) -> None:
    shards.hold_all(None, NOW)
    for path in shards.paths:
        with Store.open(path, mode="reader") as store:
            assert store.global_hold(NOW) is not None
    assert shards.status(NOW, include_departed=False).hold_all is not None
    assert shards.release_all(NOW) is True
    assert shards.global_hold(NOW) is None


def test_history_merges_every_database_newest_first(shards: Databases) -> None:
    shards.acknowledge("1-1-1", "Li", NOW)
    shards.acknowledge("2-1-1", "Wang", NOW + timedelta(minutes=1))
    entries = shards.history(10)
    assert [(e.account, e.event) for e in entries] == [
        ("shop-b", "acknowledged"), ("shop-a", "acknowledged"),
    ]  # fmt: skip
    assert len(shards.history(1)) == 1


def test_a_new_shard_database_starts_with_the_other_databases_holds(
    shards: Databases, tmp_path: Path
) -> None:
    shards.hold("1-1-1", NOW + timedelta(days=2), NOW, force=False)
    shards.hold("2-1-1", None, NOW, force=False)
    shards.hold_all(NOW + timedelta(hours=5), NOW)
    new = tmp_path / "ozon-sync-2.db"
    assert shards.carry_holds(new, NOW) == 2
    with Store.open(new, mode="reader") as store:
        held = store.holds(NOW)
        assert held.own() == {"1-1-1": NOW + timedelta(days=2), "2-1-1": None}
        stop = store.global_hold(NOW)
        assert stop is not None and stop.until == NOW + timedelta(hours=5)


def test_the_board_over_every_shard_shows_what_status_shows_and_acts_where_cached(
    shards: Databases,
) -> None:
    """The `board` command's data over both databases: the merged status (the old copy of
    shop-a in shard 1 left out), every account's newest sync, the emergency stop of either,
    and a verb written where the posting is cached."""
    with shards.open_all("annotate") as stores:
        board = BoardData(stores, accounts=["shop-a", "shop-b"], now=lambda: NOW)
        numbers = [item["posting_number"] for item in json.loads(board.postings_json())]
        assert numbers == ["1-1-2", "2-1-1", "1-1-1"]  # not 1-9-9: shard 0 synced shop-a last
        sync = board.sync()
        assert {a["account"]: a["stale"] for a in sync["accounts"]} == {
            "shop-a": False, "shop-b": False,
        }  # fmt: skip
        assert sync["hold_all"] is None
        stores[1].hold_all(None, NOW)
        assert board.sync()["hold_all"] is not None
        assert board.acknowledge("2-1-1", "Wang")["acknowledged_by"] == "Wang"
        assert board.hold("1-1-1", timedelta(hours=2))["held"] is True
        with pytest.raises(UnknownPosting):
            board.release("7-7-7")
    with Store.open(shards.paths[0], mode="reader") as zero:
        assert zero.is_held("1-1-1", NOW) and not zero.is_held("2-1-1", NOW)
    view = shards.status(NOW, include_departed=False)
    acked = {p.posting_number: p.acknowledged_by for p in view.postings}
    assert acked == {"1-1-2": None, "2-1-1": "Wang", "1-1-1": None}
