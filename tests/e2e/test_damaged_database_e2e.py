"""A state database damaged in ways SQLite's integrity check does not see (issue 24, item 2): a
table, column or index gone, a value no longer readable. Every command that needs the part
that is gone exits 74 on one plain line naming the database, never a traceback, and writes
nothing to it; a posting whose cached copy cannot be decoded is skipped with a warning by
`status` (the others still show) and rewritten from Ozon by the next sync."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    Daemon,
    MakeDaemon,
    StartSandbox,
    assert_plain_last_line,
    explain,
)

NUMBER = "12345678-0001-1"


def sql(database: Path, statement: str, *params: str) -> None:
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute(statement, params)


def digest(database: Path) -> str:
    """The bytes of the database and its WAL: what `unchanged` compares."""
    parts = [database, Path(f"{database}-wal")]
    return hashlib.sha256(b"".join(p.read_bytes() for p in parts if p.exists())).hexdigest()


@pytest.fixture
def daemon(start_sandbox: StartSandbox, make_daemon: MakeDaemon) -> Daemon:
    sb = start_sandbox("--scenario", "demo")
    made = make_daemon(sb.base_url)
    made.once_ok()
    made.run("hold", made.status()[0]["posting_number"])
    return made


DAMAGES: list[tuple[str, tuple[str, ...]]] = [
    ("holds table dropped", ("DROP TABLE holds",)),
    ("acknowledgements table dropped", ("DROP TABLE acknowledgements",)),
    ("a column dropped", ("ALTER TABLE sync_state DROP COLUMN last_error",)),
    ("the claim index dropped", ("DROP INDEX actions_claim",)),
]
COMMANDS: list[tuple[str, ...]] = [
    ("status",),
    ("status", "--json"),
    ("history", "--json"),
    ("hold", NUMBER, "--force"),
    ("release", NUMBER),
    ("ack", NUMBER, "--by", "anna"),
    ("once",),
]


@pytest.mark.parametrize(
    "statements", [case[1] for case in DAMAGES], ids=[case[0] for case in DAMAGES]
)
def test_a_database_missing_part_of_its_schema_exits_74_for_every_command(
    daemon: Daemon, statements: tuple[str, ...]
) -> None:
    for statement in statements:
        sql(daemon.database, statement)
    before = digest(daemon.database)

    for command in COMMANDS:
        result = daemon.run(*command)
        assert result.returncode == 74, explain(result)
        assert result.stdout == "", explain(result)
        last = assert_plain_last_line(result, str(daemon.database))
        assert "internal error" not in last
    assert digest(daemon.database) == before, "a damaged database was written to"

    check = daemon.run("check", "--offline")  # validates the config; says what it could not read
    assert check.returncode == 0, explain(check)
    assert "state database cannot be read" in check.stdout


def damage_posting(daemon: Daemon, data: str) -> str:
    """Overwrite the cached copy of the first watched posting; returns its number."""
    number: str = daemon.status()[0]["posting_number"]
    sql(daemon.database, "UPDATE postings SET data = ? WHERE posting_number = ?", data, number)
    return number


@pytest.mark.parametrize(
    "data",
    ["{not json", '{"posting_number": 5}', "[]", '{"posting_number": "1-1", "status": "x", '
     '"shipment_date": "2026-01-01T00:00:00Z"}'],
    ids=["not-json", "wrong-type", "list", "another-posting"],
)  # fmt: skip
def test_status_shows_a_posting_it_cannot_decode_from_its_columns_with_a_warning(
    daemon: Daemon, data: str
) -> None:
    before = {item["posting_number"]: item for item in daemon.status()}
    number = damage_posting(daemon, data)

    for args in (("status", "--json"), ("status",), ("status", "--all")):
        result = daemon.run(*args)
        assert result.returncode == 0, explain(result)
        assert "Traceback" not in result.stderr, explain(result)
        assert number in result.stderr and str(daemon.database) in result.stderr
        assert "cannot be read" in result.stderr
    shown = {item["posting_number"]: item for item in daemon.status()}
    assert shown.keys() == before.keys(), "a posting went missing from status"
    for key in ("account", "status", "shipment_date", "seconds_left", "held"):
        assert (
            abs(shown[number][key] - before[number][key]) < 60
            if key == "seconds_left"
            else (shown[number][key] == before[number][key])
        ), key

    # `hold` may write: it marks the copy for rewriting, and the next sync rewrites it.
    held = daemon.run("hold", number)
    assert held.returncode == 0, explain(held)
    daemon.once_ok()
    repaired = daemon.run("status", "--json")
    assert repaired.returncode == 0, explain(repaired)
    assert "cannot be read" not in repaired.stderr, explain(repaired)
    after = {item["posting_number"]: item for item in daemon.status()}
    assert after[number]["warehouse"] == before[number]["warehouse"] != ""
    assert after[number]["held"] is True


def test_a_posting_whose_deadline_cannot_be_read_either_is_left_out_with_a_warning(
    daemon: Daemon,
) -> None:
    before = {item["posting_number"] for item in daemon.status()}
    number = damage_posting(daemon, "{not json")
    sql(
        daemon.database,
        "UPDATE postings SET shipment_date = 'x' WHERE posting_number = ?",
        number,
    )
    result = daemon.run("status", "--json")
    assert result.returncode == 0, explain(result)
    assert number in result.stderr and "left out" in result.stderr
    assert {item["posting_number"] for item in daemon.status()} == before - {number}


BROKEN_VALUES: list[tuple[str, str, Callable[[Daemon], tuple[str, ...]]]] = [
    ("a sync time", "UPDATE sync_state SET last_success_at = 'yesterday'", lambda d: ("status",)),
    ("an alert's postings", "UPDATE alerts SET posting_numbers = '[oops'",
     lambda d: ("history", "--json")),
    ("a hold's end", "UPDATE holds SET until = 'soon'", lambda d: ("status", "--json")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("statement", "command"),
    [case[1:] for case in BROKEN_VALUES],
    ids=[case[0] for case in BROKEN_VALUES],
)
def test_an_unreadable_value_exits_74_naming_the_database(
    daemon: Daemon, statement: str, command: Callable[[Daemon], tuple[str, ...]]
) -> None:
    sql(daemon.database, statement)
    result = daemon.run(*command(daemon))
    assert result.returncode == 74, explain(result)
    assert_plain_last_line(result, str(daemon.database), "cannot be read")
