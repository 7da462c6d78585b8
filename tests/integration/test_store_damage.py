"""A state database damaged in ways `PRAGMA integrity_check` does not see (issue 24, item 2):
a table, column or index gone, a value that cannot be decoded. The store raises
StoreCorruptError naming the file (the CLI: exit 74) and writes nothing; a cached posting whose
copy cannot be decoded is shown from its own columns, with a warning, and (when the store may
write) marked so that the next sync rewrites it. Real SQLite files in tmp_path."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.models import AccessDenied, Posting
from daemon.store import Store, StoreCorruptError
from daemon.store import schema_check as schema

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
NUMBER = "1000-0001-1"


def posting(number: str = NUMBER, hours_left: float = 4) -> Posting:
    return Posting(
        posting_number=number,
        status="awaiting_packaging",
        shipment_date=NOW + timedelta(hours=hours_left),
        warehouse_name="Main",
    )


def sql(path: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return conn.execute(statement, params).fetchall()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        store.upsert_postings("shop-1", [posting(), posting("1000-0002-1", 8)], NOW)
        store.record_sync_success("shop-1", NOW)
        store.hold("1000-0002-1", None, NOW)
    return path


def drop(path: Path, part: str) -> None:
    kind, name = part.split(" ", 1)
    if kind == "column":
        table, column = name.split(".")
        sql(path, f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        sql(path, f'DROP {kind.upper()} "{name}"')


def droppable() -> list[str]:
    """Every part a hand or a tool could drop on its own (SQLite refuses to drop a column
    that is part of a key or an index, and an index that backs a constraint)."""
    parts = []
    for part in sorted(schema.expected_parts()):
        if part.startswith("column") or part == "table _sqlite_migrations":
            # columns: a few below (each alike); without its migrations table the file is no
            # ozon-sync database at all (refused with StoreSchemaError)
            continue
        parts.append(part)
    return [*parts, "column sync_state.last_error", "column deliveries.sent_postings"]


@pytest.mark.parametrize("part", droppable())
def test_a_database_missing_a_part_of_its_schema_is_refused_untouched_in_every_mode(
    db_path: Path, part: str
) -> None:
    try:
        drop(db_path, part)
    except sqlite3.OperationalError as err:
        pytest.skip(f"SQLite cannot drop {part} alone: {err}")
    before = db_path.read_bytes()
    for mode in ("reader", "annotate", "writer"):
        with pytest.raises(StoreCorruptError, match="is damaged") as refused:
            Store.open(db_path, mode=mode)  # type: ignore[arg-type]
        assert str(db_path) in str(refused.value)
        assert part.split(" ", 1)[1] in str(refused.value)
    assert db_path.read_bytes() == before


def test_a_table_dropped_while_the_store_is_open_raises_store_corrupt_error(
    db_path: Path,
) -> None:
    with Store.open(db_path, mode="annotate") as store:
        sql(db_path, "DROP TABLE holds")
        with pytest.raises(StoreCorruptError, match="no such table: holds"):
            store.hold(NUMBER, None, NOW)


@pytest.mark.parametrize(
    ("statement", "verb"),
    [
        ("UPDATE sync_state SET last_success_at = 'yesterday'", lambda s: s.sync_states()),
        ("UPDATE holds SET until = 'soon'", lambda s: s.holds(NOW)),
        ("UPDATE actions SET claimed_at = x'00'", lambda s: s.open_actions()),
        ("UPDATE alerts SET posting_numbers = '[oops'", lambda s: s.history()),
        ("UPDATE alerts SET posting_numbers = '[1, 2]'", lambda s: s.history()),
        ("UPDATE alerts SET payload = '[]'", lambda s: s.deliveries_due(NOW)),
        ("UPDATE deliveries SET sent_postings = '{'", lambda s: s.deliveries_due(NOW)),
    ],
    ids=[
        "sync time",
        "hold end",
        "claim time",
        "alert numbers",
        "numbers not text",
        "payload",
        "sent postings",
    ],
)
def test_a_value_that_cannot_be_decoded_raises_store_corrupt_error_naming_the_file(
    db_path: Path, statement: str, verb: object
) -> None:
    with Store.open(db_path) as store:
        store.claim_action("shop-1", NUMBER, "cancel", NOW, dry_run=False, reason="late")
        alert = store.enqueue_alert(
            "shop-1", "overdue", [NUMBER], NOW, urgent=True, payload={"postings": []},
            routes=["r"],
        )  # fmt: skip
        store.record_sent(alert, NOW)
    sql(db_path, statement)
    assert callable(verb)
    with Store.open(db_path, mode="writer") as store, pytest.raises(StoreCorruptError) as err:
        verb(store)
    assert str(db_path) in str(err.value) and "cannot be read" in str(err.value)


@pytest.mark.parametrize("data", ["{not json", "[]", '{"posting_number": 5}', "null"])
def test_a_posting_whose_copy_cannot_be_decoded_shows_from_its_columns_and_is_rewritten(
    db_path: Path, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    sql(db_path, "UPDATE postings SET data = ? WHERE posting_number = ?", data, NUMBER)
    caplog.set_level(logging.WARNING)

    with Store.open(db_path, mode="reader") as store:
        items = {item.posting_number: item for item in store.postings(NOW)}
        single = store.posting(NUMBER, NOW)
    assert items.keys() == {NUMBER, "1000-0002-1"}
    for item in (items[NUMBER], single):
        assert item is not None
        assert item.posting.status == "awaiting_packaging"
        assert item.posting.shipment_date == NOW + timedelta(hours=4)
        assert item.posting.warehouse_name == ""  # only what the columns hold
    assert items["1000-0002-1"].held and items["1000-0002-1"].posting.warehouse_name == "Main"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(NUMBER in w and str(db_path) in w for w in warnings)
    assert sql(db_path, "SELECT hash != '' FROM postings WHERE posting_number = ?", NUMBER) == [
        (1,)
    ], "a reader wrote"

    with Store.open(db_path, mode="annotate") as store:
        assert store.posting(NUMBER, NOW) is not None
    assert sql(db_path, "SELECT hash FROM postings WHERE posting_number = ?", NUMBER) == [("",)]
    with Store.open(db_path) as store:
        result = store.upsert_postings("shop-1", [posting(), posting("1000-0002-1", 8)], NOW)
        assert [change.posting.posting_number for change in result.changed] == [NUMBER]
        caplog.clear()
        repaired = store.posting(NUMBER, NOW)
    assert repaired is not None and repaired.posting.warehouse_name == "Main"
    assert not caplog.records


def test_a_posting_whose_deadline_cannot_be_read_either_is_left_out(db_path: Path) -> None:
    sql(
        db_path,
        "UPDATE postings SET data = '{', shipment_date = 'x' WHERE posting_number = ?",
        NUMBER,
    )
    with Store.open(db_path, mode="reader") as store:
        assert [item.posting_number for item in store.postings(NOW)] == ["1000-0002-1"]
        assert store.posting(NUMBER, NOW) is None
        assert store.posting_numbers() == [NUMBER, "1000-0002-1"]  # still cached: nothing lost


def test_a_sync_rewrites_a_deadline_column_it_cannot_read_without_reporting_a_move(
    db_path: Path,
) -> None:
    sql(db_path, "UPDATE postings SET shipment_date = 'x' WHERE posting_number = ?", NUMBER)
    with Store.open(db_path) as store:
        result = store.upsert_postings("shop-1", [posting(), posting("1000-0002-1", 8)], NOW)
        (change,) = result.changed
        assert change.posting.posting_number == NUMBER and not change.deadline_changed
        assert store.posting(NUMBER, NOW) is not None
    assert sql(db_path, "SELECT shipment_date FROM postings WHERE posting_number = ?", NUMBER) == [
        ("2026-05-01T13:00:00.000000Z",)
    ]


def test_an_unreadable_rating_denial_raises_store_corrupt_error(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.record_ratings("shop-1", AccessDenied(path="/v1/rating/summary"), None, NOW)
    sql(db_path, "UPDATE ratings SET denied = '{oops'")
    with Store.open(db_path, mode="reader") as store, pytest.raises(StoreCorruptError):
        store.unnoted_denials("shop-1")
