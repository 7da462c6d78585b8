"""The schema of the state database, as named migrations applied at start-up.

Migrations use `sqlite_utils.Migrations` (set name "ozon-sync", recorded in the table
`_sqlite_migrations`). To change the schema, append a new function decorated with
`@_migration("000N_what_it_does")` at the end of this file: never edit or reorder one that has
shipped. `tests/integration/test_store_open.py` builds a database stopped before every migration
in turn and checks that opening it brings it up to date, so a new migration is tested for free.

What a database has applied, applying the rest, and the checks at open (a newer ozon-sync's
database, a damaged one) are in `daemon.store.schema_check`.

Imports only the standard library and sqlite-utils.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

__all__ = ["MIGRATIONS", "MIGRATION_NAMES", "MIGRATION_SET"]

MIGRATION_SET = "ozon-sync"
MIGRATIONS = Migrations(MIGRATION_SET)
_NAMES: list[str] = []


_MigrationFn = Callable[[Database], None]


def _migration(name: str) -> Callable[[_MigrationFn], _MigrationFn]:
    """Register the decorated function as the next migration, under `name`."""
    _NAMES.append(name)
    decorator: Callable[[_MigrationFn], _MigrationFn] = MIGRATIONS(name=name)
    return decorator


@_migration("0001_initial")
def _initial(db: Database) -> None:
    db.executescript(
        """
        -- The current snapshot: one row per posting and account. `data` is the Posting as JSON,
        -- `hash` its content hash: an unchanged posting is never rewritten. When the account
        -- last saw its postings is kept once per account in sync_state, not per row.
        CREATE TABLE postings (
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            status TEXT NOT NULL,
            shipment_date TEXT NOT NULL,
            hash TEXT NOT NULL,
            data TEXT NOT NULL,
            watched INTEGER NOT NULL DEFAULT 1,
            first_seen TEXT NOT NULL,
            last_changed TEXT NOT NULL,
            departed_at TEXT,
            departure TEXT CHECK (departure IN ('shipped', 'cancelled', 'split')),
            shipped_late INTEGER,
            PRIMARY KEY (account, posting_number)
        );
        CREATE INDEX postings_watched ON postings (account, shipment_date) WHERE watched = 1;
        CREATE INDEX postings_departed ON postings (account, departed_at)
            WHERE departed_at IS NOT NULL;

        -- Status and deadline changes of cached postings.
        CREATE TABLE posting_history (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            at TEXT NOT NULL,
            field TEXT NOT NULL CHECK (field IN ('status', 'shipment_date')),
            old TEXT NOT NULL,
            new TEXT NOT NULL
        );
        CREATE INDEX posting_history_posting ON posting_history (posting_number, account);
        CREATE INDEX posting_history_at ON posting_history (at);

        -- A seller's hold, by posting number in any account; may precede the cached posting.
        CREATE TABLE holds (
            posting_number TEXT PRIMARY KEY,
            until TEXT,
            held_at TEXT NOT NULL
        );

        -- Every alert ever generated, so none is generated twice.
        CREATE TABLE alert_ledger (
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            event TEXT NOT NULL,
            step TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (account, posting_number, event, step)
        ) WITHOUT ROWID;
        CREATE INDEX alert_ledger_at ON alert_ledger (at);

        -- The action journal. The partial unique index is the compare-and-set of claim_action:
        -- at most one claim per posting, kind and dry-run flag that has not failed.
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            kind TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            reason TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            outcome TEXT CHECK (outcome IN ('done', 'failed', 'unknown')),
            outcome_reason TEXT NOT NULL DEFAULT '',
            unknown_at TEXT,
            finished_at TEXT
        );
        CREATE UNIQUE INDEX actions_claim ON actions (account, posting_number, kind, dry_run)
            WHERE outcome IS NOT 'failed';
        CREATE INDEX actions_finished ON actions (finished_at);

        CREATE TABLE sync_state (
            account TEXT PRIMARY KEY,
            last_success_at TEXT,
            last_failure_at TEXT,
            failing_since TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            api_error_alerted INTEGER NOT NULL DEFAULT 0
        );

        -- The outbox: one row per alert, one delivery row per route (a caller-made route id,
        -- never the URL). sent_at marks an alert message as sent, for `history`.
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            event TEXT NOT NULL,
            posting_numbers TEXT NOT NULL,
            urgent INTEGER NOT NULL,
            dry_run INTEGER NOT NULL,
            reason TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX alerts_created ON alerts (created_at);
        CREATE INDEX alerts_sent ON alerts (sent_at) WHERE sent_at IS NOT NULL;
        CREATE TABLE deliveries (
            alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
            route_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dropped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_at TEXT NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            done_at TEXT,
            PRIMARY KEY (alert_id, route_id)
        ) WITHOUT ROWID;
        CREATE INDEX deliveries_due ON deliveries (next_try_at) WHERE state = 'pending';
        """
    )


@_migration("0002_hold_all")
def _hold_all(db: Database) -> None:
    db.executescript(
        """
        -- `hold --all`: the emergency stop. At most one row: while it lasts (until NULL: until
        -- `release --all`) no posting of any account is cancelled.
        CREATE TABLE hold_all (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            until TEXT,
            held_at TEXT NOT NULL
        );
        """
    )


@_migration("0003_skipped_actions")
def _skipped_actions(db: Database) -> None:
    # A planned action decided against without acting (history: cancel_skipped) is final like
    # a failed one and frees the posting for a new claim. SQLite cannot change a CHECK
    # constraint in place: the table is rebuilt with the same columns and ids.
    db.executescript(
        """
        CREATE TABLE actions_new (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            kind TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            reason TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            outcome TEXT CHECK (outcome IN ('done', 'failed', 'unknown', 'skipped')),
            outcome_reason TEXT NOT NULL DEFAULT '',
            unknown_at TEXT,
            finished_at TEXT
        );
        INSERT INTO actions_new SELECT id, account, posting_number, kind, dry_run, reason,
            claimed_at, outcome, outcome_reason, unknown_at, finished_at FROM actions;
        DROP TABLE actions;
        ALTER TABLE actions_new RENAME TO actions;
        CREATE UNIQUE INDEX actions_claim ON actions (account, posting_number, kind, dry_run)
            WHERE outcome IS NOT 'failed' AND outcome IS NOT 'skipped';
        CREATE INDEX actions_finished ON actions (finished_at);
        """
    )


@_migration("0004_staged_alerts")
def _staged_alerts(db: Database) -> None:
    db.executescript(
        """
        -- A staged alert is written with the change that caused it, in the same transaction,
        -- but gets its deliveries only when released: at the end of its cycle (merged with the
        -- cycle's other alerts of the same event into one message), or by the next cycle of
        -- its account when the process died first.
        ALTER TABLE alerts ADD COLUMN staged INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX alerts_staged ON alerts (account) WHERE staged = 1;
        """
    )


@_migration("0005_acknowledgements")
def _acknowledgements(db: Database) -> None:
    db.executescript(
        """
        -- `ack`: someone took a posting in hand, for the deadline it had then. Every row is
        -- kept (history shows each); the newest row whose shipment_date is the posting's
        -- current one is in force, so a moved deadline clears it without a write.
        CREATE TABLE acknowledgements (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            shipment_date TEXT NOT NULL,
            by_name TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX acknowledgements_posting
            ON acknowledgements (account, posting_number, shipment_date);
        CREATE INDEX acknowledgements_at ON acknowledgements (at);

        -- Watched postings most urgent first without sorting their rows (the board reads all
        -- of them every 15 s; sorting 10,000 rows of 3 KB cost more than reading them).
        CREATE INDEX postings_watched_deadline ON postings (shipment_date, account, posting_number)
            WHERE watched = 1;
        """
    )


@_migration("0006_action_client_id")
def _action_client_id(db: Database) -> None:
    db.executescript(
        """
        -- A cancel claim belongs to the shop (its Client-Id), not to the config entry: two
        -- entries splitting one shop by warehouse, or an account renamed in the config, never
        -- claim the same posting twice. '' for claims made before (keyed by account only).
        ALTER TABLE actions ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
        CREATE UNIQUE INDEX actions_client_claim ON actions (client_id, posting_number, kind,
            dry_run) WHERE client_id != '' AND outcome IS NOT 'failed'
            AND outcome IS NOT 'skipped';
        """
    )


@_migration("0007_delivery_sent_postings")
def _delivery_sent_postings(db: Database) -> None:
    db.executescript(
        """
        -- The posting numbers a delivery already carried to its route in accepted parts (a JSON
        -- array): a retry after a refused part sends only the others.
        ALTER TABLE deliveries ADD COLUMN sent_postings TEXT NOT NULL DEFAULT '[]';
        """
    )


@_migration("0008_escalations")
def _escalations(db: Database) -> None:
    db.executescript(
        """
        -- Each escalation step (a posting nobody acknowledged, told to the level-N routes), for
        -- `history` (event `escalated`). Written in the transaction of its staged alert; the
        -- alert ledger's ("escalated", "N@deadline") key keeps it to once per level and deadline.
        CREATE TABLE escalations (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            posting_number TEXT NOT NULL,
            shipment_date TEXT NOT NULL,
            level INTEGER NOT NULL CHECK (level > 0),
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX escalations_at ON escalations (at);
        """
    )


@_migration("0009_ratings")
def _ratings(db: Database) -> None:
    db.executescript(
        """
        -- The last answer of each account's rating methods, read once a day: `method` is
        -- 'summary' (/v1/rating/summary) or 'index' (/v1/rating/index/fbs/info); `value` the
        -- answer as JSON, or NULL when Ozon answered 403 (`denied`: its code and message as
        -- JSON); `denial_noted` once the digest has said so (it says it once per denial).
        CREATE TABLE ratings (
            account TEXT NOT NULL,
            method TEXT NOT NULL CHECK (method IN ('summary', 'index')),
            read_at TEXT NOT NULL,
            value TEXT,
            denied TEXT,
            denial_noted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (account, method)
        ) WITHOUT ROWID;
        """
    )


@_migration("0011_postings_by_number")
def _postings_by_number(db: Database) -> None:
    db.executescript(
        """
        -- A posting looked up by its number alone, or with an account that may be NULL (the
        -- outbox checking a reminder is still due, `hold`, `ack`): the primary key leads with
        -- the account and cannot serve it, so every look-up scanned the whole table (8 ms at
        -- 10,000 postings, 80 ms at 100,000, thousands of times per poll interval).
        CREATE INDEX postings_number ON postings (posting_number);
        """
    )


MIGRATION_NAMES: tuple[str, ...] = tuple(_NAMES)
