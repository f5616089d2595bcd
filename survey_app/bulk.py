"""Insert many responses at once (demo data, tests, benchmarks), each with its invitation.

The rows are exactly those the normal submission path stores (an answered
invitation, its response, one row per reason) and the statistics cells are
updated in the same transaction as the responses they count. Speed comes from
skipping the ORM: one raw connection for the whole load, ids reserved up front
so nothing is read back, and one transaction per chunk of ``CHUNK`` responses
(``executemany`` on SQLite, binary ``COPY`` on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
from piccolo.engine.cockroach import CockroachEngine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.storage.engine import SQLITE_BUSY_TIMEOUT_S
from survey_app.storage.rollup import CellKey, reason_key, upserts
from survey_app.storage.tables import Response

# Responses per transaction: large enough that per-transaction costs vanish,
# small enough that memory stays flat and a writer waits seconds, not minutes.
CHUNK = 50_000
INVITATION_DAYS = 14
# Random bytes per token and per transaction key, as the normal path draws them.
TOKEN_BYTES = 24
KEY_BYTES = 32
ANSWERS = "{}"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
EPOCH_DAY = EPOCH.date()
US_PER_DAY = 86_400_000_000
EXPIRY_US = INVITATION_DAYS * US_PER_DAY
# Every token and transaction key of a chunk starts with the same bytes (the
# chunk's clock), the rest random. Fully random values land all over the
# three indexes on invitation (token twice, transaction_key), so every chunk
# rewrote most of their pages: hundreds of megabytes per chunk at millions of
# rows. A shared prefix keeps a chunk's entries together in a few pages.
# What stays random (144 bits per token, 208 per key) is still far beyond
# guessing, and these invitations are answered already: their tokens open nothing.
CLUSTER_BYTES = 6
# The SQLite loader's page cache (KiB): keeps the hot index pages of a
# database of millions of rows in memory instead of re-reading them per chunk.
SQLITE_CACHE_KIB = 256 * 1024

INVITATION_COLUMNS = (
    "id",
    "token",
    "transaction_key",
    "agency",
    "service",
    "channel",
    "locale",
    "questionnaire_id",
    "created_at",
    "expires_at",
    "answered_at",
)
RESPONSE_COLUMNS = (
    "id",
    "invitation",
    "questionnaire_id",
    "questionnaire_version",
    "agency",
    "service",
    "channel",
    "locale",
    "submitted_at",
    "overall",
    "answers",
)
REASON_COLUMNS = ("response", "reason")


@dataclass(frozen=True)
class Synthetic:
    agency_id: int
    service_id: int
    channel: str
    locale: str
    submitted_at: dt.datetime
    overall: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Columns:
    """A chunk of responses stored column by column, as generators produce them."""

    agency: list[int]
    service: list[int]
    channel: list[str]
    locale: list[str]
    submitted_us: np.ndarray  # int64 microseconds since 1970-01-01 UTC
    overall: list[int]
    reasons: list[tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.agency)

    @classmethod
    def from_records(cls, records: Sequence[Synthetic]) -> Columns:
        one_us = dt.timedelta(microseconds=1)
        return cls(
            agency=[r.agency_id for r in records],
            service=[r.service_id for r in records],
            channel=[r.channel for r in records],
            locale=[r.locale for r in records],
            submitted_us=np.array(
                [(r.submitted_at.astimezone(dt.UTC) - EPOCH) // one_us for r in records],
                dtype=np.int64,
            ),
            overall=[r.overall for r in records],
            reasons=[tuple(r.reasons) for r in records],
        )


async def insert_responses(
    records: Sequence[Synthetic],
    questionnaire_version: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Store ``records`` as answered invitations with responses and reasons; returns the count."""
    chunks = (
        Columns.from_records(records[start : start + CHUNK])
        for start in range(0, len(records), CHUNK)
    )
    return await insert_columns(chunks, questionnaire_version, progress)


async def insert_columns(
    chunks: Iterable[Columns],
    questionnaire_version: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Store each chunk in a transaction of its own, cells included; returns the count.

    ``chunks`` may be a generator: only one chunk is in memory at a time.
    """
    engine = Response._meta.db
    if isinstance(engine, SQLiteEngine):
        return _load_sqlite(engine, chunks, questionnaire_version, progress)
    if isinstance(engine, PostgresEngine):  # CockroachEngine included, branched inside
        return await _load_postgres(engine, chunks, questionnaire_version, progress)
    raise TypeError(f"bulk loading does not support {type(engine).__name__}")


# -- What both engines derive from a chunk -------------------------------------------


def _random_texts(count: int, nbytes: int, encode: Callable[[bytes], str]) -> list[str]:
    """``count`` texts of ``nbytes`` bytes each, encoded in one call.

    The bytes are the chunk's prefix (see ``CLUSTER_BYTES``) then random.
    Both encodings used map whole groups of bytes to fixed-width text
    (3 bytes -> 4 base64 characters, 1 byte -> 2 hex digits), so slicing one
    encoded block gives exactly what encoding each piece would.
    """
    if not count:
        return []
    raw = np.empty((count, nbytes), dtype=np.uint8)
    raw[:, :CLUSTER_BYTES] = np.frombuffer(_cluster_prefix(), dtype=np.uint8)
    raw[:, CLUSTER_BYTES:] = np.frombuffer(
        os.urandom(count * (nbytes - CLUSTER_BYTES)), dtype=np.uint8
    ).reshape(count, -1)
    text = encode(raw.tobytes())
    width = len(text) // count
    return [text[i : i + width] for i in range(0, len(text), width)]


def _cluster_prefix() -> bytes:
    """The chunk's clock in milliseconds: distinct per chunk, shared within it."""
    return (time.time_ns() // 1_000_000).to_bytes(CLUSTER_BYTES, "big")


def _tokens(count: int) -> list[str]:
    """Like ``secrets.token_urlsafe(TOKEN_BYTES)`` (24 bytes: no padding to strip)."""
    return sorted(_random_texts(count, TOKEN_BYTES, lambda b: base64.urlsafe_b64encode(b).decode()))


def _transaction_keys(count: int) -> list[str]:
    """Random 64-hex keys: no real transaction reference stands behind a synthetic one."""
    return sorted(_random_texts(count, KEY_BYTES, bytes.hex))


def _cell_upserts(chunk: Columns, sqlite: bool) -> list[tuple[str, list[tuple]]]:
    """``rollup.upserts`` of the chunk, each in key order so its unique index is walked in order."""
    return [(sql, sorted(rows)) for sql, rows in upserts(_cells(chunk), sqlite=sqlite)]


def _cells(chunk: Columns) -> Counter[CellKey]:
    """Responses per statistics cell, keyed exactly as ``rollup.cell_counts`` keys them."""
    day_numbers = (chunk.submitted_us // US_PER_DAY).tolist()
    day_of = {n: EPOCH_DAY + dt.timedelta(days=n) for n in set(day_numbers)}
    keys: dict[tuple[str, ...], str] = {}
    reason_keys = [
        keys[r] if r in keys else keys.setdefault(r, reason_key(r)) for r in chunk.reasons
    ]
    return Counter(
        zip(
            map(day_of.__getitem__, day_numbers),
            chunk.agency,
            chunk.service,
            chunk.channel,
            chunk.locale,
            chunk.overall,
            reason_keys,
            strict=True,
        )
    )


def _reason_rows(response_ids: Iterable[int], chunk: Columns) -> Iterator[tuple[int, str]]:
    return (
        (rid, code)
        for rid, codes in zip(response_ids, chunk.reasons, strict=True)
        for code in codes
    )


# -- SQLite ------------------------------------------------------------------------


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


def _load_sqlite(
    engine: SQLiteEngine,
    chunks: Iterable[Columns],
    version: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Blocking on purpose: a batch command, and one connection is what makes it fast."""
    connection = _connect_sqlite(engine)
    added = 0
    try:
        for chunk in chunks:
            if not len(chunk):
                continue
            _store_sqlite_chunk(connection, chunk, version)
            added += len(chunk)
            if progress:
                progress(len(chunk))
    finally:
        connection.close()
    return added


def _store_sqlite_chunk(connection: sqlite3.Connection, chunk: Columns, version: int) -> None:
    n = len(chunk)
    tokens, keys = _tokens(n), _transaction_keys(n)
    submitted = _sqlite_timestamps(chunk.submitted_us)
    expires = _sqlite_timestamps(chunk.submitted_us + EXPIRY_US)
    cells = _cell_upserts(chunk, sqlite=True)
    questionnaire = [DEFAULT_QUESTIONNAIRE_ID] * n
    # The write lock is taken before reading the highest ids, so no other
    # writer can take the ids this chunk assigns itself.
    connection.execute("BEGIN IMMEDIATE")
    try:
        first_invitation = _next_sqlite_id(connection, "invitation")
        first_response = _next_sqlite_id(connection, "response")
        invitation_ids = range(first_invitation, first_invitation + n)
        response_ids = range(first_response, first_response + n)
        connection.executemany(
            SQLITE_INSERT_INVITATION,
            zip(
                invitation_ids,
                tokens,
                keys,
                chunk.agency,
                chunk.service,
                chunk.channel,
                chunk.locale,
                questionnaire,
                submitted,
                expires,
                submitted,
                strict=True,
            ),
        )
        connection.executemany(
            SQLITE_INSERT_RESPONSE,
            zip(
                response_ids,
                invitation_ids,
                questionnaire,
                [version] * n,
                chunk.agency,
                chunk.service,
                chunk.channel,
                chunk.locale,
                submitted,
                chunk.overall,
                [ANSWERS] * n,
                strict=True,
            ),
        )
        connection.executemany(SQLITE_INSERT_REASON, _reason_rows(response_ids, chunk))
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


# -- PostgreSQL (and CockroachDB) ------------------------------------------------------

# Concurrent writer connections on PostgreSQL (see ``_load_postgres``).
POSTGRES_WRITERS = 2
SERIAL_SEQUENCE = "SELECT pg_get_serial_sequence($1, 'id')"
RESERVE_FROM_SEQUENCE = "SELECT nextval($1::regclass) FROM generate_series(1, $2)"
# CockroachDB's SERIAL defaults to unique_rowid() and has no sequence.
RESERVE_ROWIDS = "SELECT unique_rowid() FROM generate_series(1, $1)"


def _insert_pg_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


COCKROACH_INSERTS = {
    "invitation": _insert_pg_sql("invitation", INVITATION_COLUMNS),
    "response": _insert_pg_sql("response", RESPONSE_COLUMNS),
    "response_reason": _insert_pg_sql("response_reason", REASON_COLUMNS),
}


@dataclass
class _PostgresLoader:
    connection: asyncpg.Connection
    cockroach: bool
    sequences: dict[str, str | None]

    async def reserve_ids(self, table: str, count: int) -> list[int]:
        """``count`` fresh ids for ``table``, taken the way its column default takes them."""
        sequence = self.sequences[table]
        if sequence is None:
            rows = await self.connection.fetch(RESERVE_ROWIDS, count)
        else:
            rows = await self.connection.fetch(RESERVE_FROM_SEQUENCE, sequence, count)
        return [row[0] for row in rows]

    async def write(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        if self.cockroach:
            # CockroachDB's COPY does not take asyncpg's binary format; plain
            # batched inserts are slower but correct there.
            await self.connection.executemany(COCKROACH_INSERTS[table], list(rows))
        else:
            await self.connection.copy_records_to_table(table, records=rows, columns=columns)


def _pg_timestamps(us: np.ndarray) -> list[dt.datetime]:
    """Aware UTC datetimes, what asyncpg encodes for a ``timestamptz`` column."""
    moments = us.astype("datetime64[us]").astype(dt.datetime)
    return [m.replace(tzinfo=dt.UTC) for m in moments.tolist()]


async def _load_postgres(
    engine: PostgresEngine,
    chunks: Iterable[Columns],
    version: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Several writers take the chunks in turn, so the server works on one
    chunk (its foreign-key checks and indexes are most of the cost) while the
    next one is prepared and sent.

    Their transactions cannot deadlock: each upserts the same tables in the
    same order with its rows sorted, so locks are always taken in one order.
    """
    shared = iter(chunks)  # one iterator: each chunk goes to exactly one writer
    async with asyncio.TaskGroup() as group:
        writers = [
            group.create_task(_postgres_writer(engine, shared, version, progress))
            for _ in range(POSTGRES_WRITERS)
        ]
    return sum(writer.result() for writer in writers)


async def _postgres_writer(
    engine: PostgresEngine,
    chunks: Iterator[Columns],
    version: int,
    progress: Callable[[int], None] | None,
) -> int:
    connection = await asyncpg.connect(engine.config["dsn"])
    try:
        sequences = {
            table: await connection.fetchval(SERIAL_SEQUENCE, table)
            for table in ("invitation", "response")
        }
        loader = _PostgresLoader(connection, isinstance(engine, CockroachEngine), sequences)
        added = 0
        for chunk in chunks:
            if not len(chunk):
                continue
            await _store_postgres_chunk(loader, chunk, version)
            added += len(chunk)
            if progress:
                progress(len(chunk))
    finally:
        await connection.close()
    return added


async def _store_postgres_chunk(loader: _PostgresLoader, chunk: Columns, version: int) -> None:
    n = len(chunk)
    tokens, keys = _tokens(n), _transaction_keys(n)
    submitted = _pg_timestamps(chunk.submitted_us)
    expires = _pg_timestamps(chunk.submitted_us + EXPIRY_US)
    cells = _cell_upserts(chunk, sqlite=False)
    questionnaire = [DEFAULT_QUESTIONNAIRE_ID] * n
    async with loader.connection.transaction():
        invitation_ids = await loader.reserve_ids("invitation", n)
        response_ids = await loader.reserve_ids("response", n)
        await loader.write(
            "invitation",
            INVITATION_COLUMNS,
            zip(
                invitation_ids,
                tokens,
                keys,
                chunk.agency,
                chunk.service,
                chunk.channel,
                chunk.locale,
                questionnaire,
                submitted,
                expires,
                submitted,
                strict=True,
            ),
        )
        await loader.write(
            "response",
            RESPONSE_COLUMNS,
            zip(
                response_ids,
                invitation_ids,
                questionnaire,
                [version] * n,
                chunk.agency,
                chunk.service,
                chunk.channel,
                chunk.locale,
                submitted,
                chunk.overall,
                [ANSWERS] * n,
                strict=True,
            ),
        )
        await loader.write("response_reason", REASON_COLUMNS, _reason_rows(response_ids, chunk))
        for sql, rows in cells:
            await loader.connection.executemany(sql, rows)
