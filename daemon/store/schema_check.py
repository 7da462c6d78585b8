"""The state database against its schema: which migrations it has applied and which are
pending, applying them, and the checks at open. A database that records a migration this
program does not know was written by a newer ozon-sync: `check_compatible` refuses it before
anything is written. One missing a table, column or index the migrations create was damaged
outside ozon-sync: `check_complete` refuses it. The migrations are in `daemon.store.schema`.

Imports only the standard library, sqlite-utils and the store's modules.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from daemon.store.errors import StoreCorruptError, StoreSchemaError
from daemon.store.schema import MIGRATION_NAMES, MIGRATION_SET, MIGRATIONS

__all__ = [
    "MIGRATION_NAMES",
    "applied",
    "apply_migrations",
    "check_compatible",
    "check_complete",
    "expected_parts",
    "pending",
]


def _has_migrations_table(db: Database) -> bool:
    return bool(db.conn.execute(_TABLE_EXISTS, [Migrations.migrations_table]).fetchone())


_TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def applied(db: Database) -> list[str]:
    """Names of the migrations of our set recorded in `db` (read-only)."""
    if not _has_migrations_table(db):
        return []
    rows = db.conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
        [MIGRATION_SET],
    )
    return [row[0] for row in rows]


def pending(db: Database) -> list[str]:
    """Names of the migrations not yet applied to `db`, in order (read-only)."""
    done = set(applied(db))
    return [name for name in MIGRATION_NAMES if name not in done]


def check_compatible(db: Database, path: Path) -> None:
    """Refuse, without writing anything, a database this program must not migrate.

    Raises StoreSchemaError when `db` records migrations we do not know (a newer ozon-sync wrote
    it) or holds tables but no migration record (it is some other program's database).
    """
    unknown = [name for name in applied(db) if name not in MIGRATION_NAMES]
    if unknown:
        raise StoreSchemaError(
            f'the state database "{path}" was written by a newer ozon-sync (schema '
            f"{unknown[-1]}); upgrade ozon-sync or point daemon.database elsewhere",
            path=path,
        )
    if not _has_migrations_table(db):
        tables = db.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()[0]
        if tables:
            raise StoreSchemaError(
                f'"{path}" is an SQLite database of another program, not an ozon-sync state '
                "database; point daemon.database elsewhere",
                path=path,
            )


_SCHEMA = (
    "SELECT m.type, m.name, p.name FROM sqlite_master AS m "
    "LEFT JOIN pragma_table_info(m.name) AS p ON m.type = 'table' "
    "WHERE m.type IN ('table', 'index') AND m.name NOT LIKE 'sqlite_%'"
)


def _parts(conn: sqlite3.Connection) -> frozenset[str]:
    """Every table, column (`table.column`) and index of the database on `conn`."""
    parts: set[str] = set()
    for kind, name, column in conn.execute(_SCHEMA):
        parts.add(f"{kind} {name}")
        if column is not None:
            parts.add(f"column {name}.{column}")
    return frozenset(parts)


@functools.cache
def expected_parts() -> frozenset[str]:
    """What a database with every migration applied holds (built once, in memory)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        apply_migrations(Database(conn, execute_plugins=False, recursive_triggers=False))
        return _parts(conn)
    finally:
        conn.close()


def check_complete(db: Database, path: Path) -> None:
    """Refuse, without writing anything, a database whose migrations are all recorded but some
    of whose tables, columns or indexes are gone (dropped by hand, a tool, a bad restore):
    every verb could fail on it, and a missing unique index would let a posting be claimed
    twice. Extra tables or indexes are fine. Raises StoreCorruptError naming the first few."""
    missing = sorted(expected_parts() - _parts(db.conn))
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        shown = ", ".join(missing[:4]) + more
        raise StoreCorruptError(
            f'the state database "{path}" is damaged: {shown} missing; ozon-sync left it '
            "untouched: restore a backup, or move it aside to start an empty one",
            path=path,
        )


def apply_migrations(db: Database, *, stop_before: str | None = None) -> None:
    """Apply every pending migration to `db` (or those before `stop_before`, for tests).

    The caller wraps this in one `BEGIN IMMEDIATE` transaction so two processes starting at
    once cannot race; each migration then runs in its own savepoint.
    """
    MIGRATIONS.apply(db, stop_before=stop_before)
