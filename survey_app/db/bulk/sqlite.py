"""The SQLite loader: one blocking ``sqlite3`` connection, ``executemany`` per table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

import numpy as np
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.db.bulk.columns import (
    EXPIRY_US,
    INVITATION_COLUMNS,
    REASON_COLUMNS,
    RESPONSE_COLUMNS,
    Columns,
    Served,
    cell_upserts,
    invitation_rows,
    random_tokens,
    random_transaction_keys,
    reason_rows,
    response_rows,
)
from survey_app.db.engine import SQLITE_BUSY_TIMEOUT_S

# The SQLite loader's page cache (KiB): keeps the hot index pages of a
# database of millions of rows in memory instead of re-reading them per chunk.
SQLITE_CACHE_KIB = 256 * 1024


def _sqlite_timestamps(us: np.ndarray) -> list[str]:
    """Each instant as Piccolo stores it on SQLite: ``str(value.astimezone(UTC))``.

    That is '2026-11-25 00:52:41+00:00', with '.ffffff' only when there are
    microseconds.
    """
    moments = us.astype("datetime64[us]")
    text = np.datetime_as_string(moments, unit="s")
    fraction = us % 1_000_000 != 0
    if fraction.any():
        text = np.where(fraction, np.datetime_as_string(moments, unit="us"), text)
    return [t.replace("T", " ") + "+00:00" for t in text.tolist()]


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


SQLITE_INSERT_INVITATION = _insert_sql("invitation", INVITATION_COLUMNS)
SQLITE_INSERT_RESPONSE = _insert_sql("response", RESPONSE_COLUMNS)
SQLITE_INSERT_REASON = _insert_sql("response_reason", REASON_COLUMNS)


def _connect_sqlite(engine: SQLiteEngine) -> sqlite3.Connection:
    # Autocommit mode, so the explicit BEGIN IMMEDIATE / COMMIT below are the
    # only transactions; foreign keys checked as on Piccolo's own connections.
    connection = sqlite3.connect(engine.path, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    return connection


def load_sqlite(
    engine: SQLiteEngine,
    chunks: Iterable[Columns],
    served: Served,
    progress: Callable[[int], None] | None,
) -> int:
    """Blocking on purpose: a batch command, and one connection is what makes it fast."""
    connection = _connect_sqlite(engine)
    added = 0
    try:
        for chunk in chunks:
            if not chunk.invitations:
                continue
            _store_sqlite_chunk(connection, chunk, served)
            added += len(chunk)
            if progress:
                progress(len(chunk))
    finally:
        connection.close()
    return added


def _store_sqlite_chunk(connection: sqlite3.Connection, chunk: Columns, served: Served) -> None:
    n, invited = len(chunk), chunk.invitations
    tokens, keys = random_tokens(invited), random_transaction_keys(invited)
    created_us = chunk.invitation_times_us()
    created = _sqlite_timestamps(created_us)
    expires = _sqlite_timestamps(created_us + EXPIRY_US)
    submitted = created[:n]  # the answered invitations come first, created when answered
    cells = cell_upserts(chunk, served.ratings, sqlite=True)
    # The write lock is taken before reading the highest ids, so no other
    # writer can take the ids this chunk assigns itself.
    connection.execute("BEGIN IMMEDIATE")
    try:
        first_invitation = _next_sqlite_id(connection, "invitation")
        first_response = _next_sqlite_id(connection, "response")
        invitation_ids = range(first_invitation, first_invitation + invited)
        response_ids = range(first_response, first_response + n)
        connection.executemany(
            SQLITE_INSERT_INVITATION,
            invitation_rows(invitation_ids, tokens, keys, chunk, created, expires),
        )
        connection.executemany(
            SQLITE_INSERT_RESPONSE,
            response_rows(response_ids, invitation_ids[:n], chunk, served.version, submitted),
        )
        connection.executemany(SQLITE_INSERT_REASON, reason_rows(response_ids, chunk))
        for sql, rows in cells:
            connection.executemany(sql, rows)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


SQLITE_MAX_ID = {
    "invitation": "SELECT COALESCE(MAX(id), 0) FROM invitation",
    "response": "SELECT COALESCE(MAX(id), 0) FROM response",
}


def _next_sqlite_id(connection: sqlite3.Connection, table: str) -> int:
    # The tables use plain INTEGER PRIMARY KEY (no AUTOINCREMENT), whose next
    # automatic id is also MAX(id) + 1.
    return connection.execute(SQLITE_MAX_ID[table]).fetchone()[0] + 1
