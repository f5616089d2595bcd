"""The PostgreSQL loader: concurrent asyncpg writers, one transaction per chunk.

Rows go in by binary ``COPY``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import asyncpg
import numpy as np
from piccolo.engine.postgres import PostgresEngine

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

# Concurrent writer connections on PostgreSQL (see ``load_postgres``).
POSTGRES_WRITERS = 2
SERIAL_SEQUENCE = "SELECT pg_get_serial_sequence($1, 'id')"
RESERVE_FROM_SEQUENCE = "SELECT nextval($1::regclass) FROM generate_series(1, $2)"


@dataclass
class _PostgresLoader:
    connection: asyncpg.Connection
    sequences: dict[str, str]

    async def reserve_ids(self, table: str, count: int) -> list[int]:
        """``count`` fresh ids for ``table``, taken from the sequence its column default uses."""
        rows = await self.connection.fetch(RESERVE_FROM_SEQUENCE, self.sequences[table], count)
        return [row[0] for row in rows]

    async def write(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        await self.connection.copy_records_to_table(table, records=rows, columns=columns)


def _pg_timestamps(us: np.ndarray) -> list[dt.datetime]:
    """Aware UTC datetimes, what asyncpg encodes for a ``timestamptz`` column."""
    moments = us.astype("datetime64[us]").astype(dt.datetime)
    return [m.replace(tzinfo=dt.UTC) for m in moments.tolist()]


async def load_postgres(
    engine: PostgresEngine,
    chunks: Iterable[Columns],
    served: Served,
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
            group.create_task(_postgres_writer(engine, shared, served, progress))
            for _ in range(POSTGRES_WRITERS)
        ]
    return sum(writer.result() for writer in writers)


async def _postgres_writer(
    engine: PostgresEngine,
    chunks: Iterator[Columns],
    served: Served,
    progress: Callable[[int], None] | None,
) -> int:
    connection = await asyncpg.connect(engine.config["dsn"])
    try:
        sequences = {
            table: await connection.fetchval(SERIAL_SEQUENCE, table)
            for table in ("invitation", "response")
        }
        loader = _PostgresLoader(connection, sequences)
        added = 0
        for chunk in chunks:
            if not chunk.invitations:
                continue
            await _store_postgres_chunk(loader, chunk, served)
            added += len(chunk)
            if progress:
                progress(len(chunk))
    finally:
        await connection.close()
    return added


async def _store_postgres_chunk(loader: _PostgresLoader, chunk: Columns, served: Served) -> None:
    n, invited = len(chunk), chunk.invitations
    tokens, keys = random_tokens(invited), random_transaction_keys(invited)
    created_us = chunk.invitation_times_us()
    created = _pg_timestamps(created_us)
    expires = _pg_timestamps(created_us + EXPIRY_US)
    submitted = created[:n]  # the answered invitations come first, created when answered
    cells = cell_upserts(chunk, served.ratings, sqlite=False)
    async with loader.connection.transaction():
        invitation_ids = await loader.reserve_ids("invitation", invited)
        response_ids = await loader.reserve_ids("response", n)
        await loader.write(
            "invitation",
            INVITATION_COLUMNS,
            invitation_rows(invitation_ids, tokens, keys, chunk, created, expires),
        )
        await loader.write(
            "response",
            RESPONSE_COLUMNS,
            response_rows(response_ids, invitation_ids[:n], chunk, served.version, submitted),
        )
        await loader.write("response_reason", REASON_COLUMNS, reason_rows(response_ids, chunk))
        for sql, rows in cells:
            await loader.connection.executemany(sql, rows)
