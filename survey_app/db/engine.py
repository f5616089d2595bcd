"""Build the Piccolo engine named by ``DATABASE_URL`` and bind every table to it."""

from __future__ import annotations

import os
import sqlite3
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table

from survey_app.db.read_pool import ReadPool, is_read
from survey_app.db.register_cache import RegisterCache
from survey_app.db.replica import (
    COMMAND_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    REPLICA,
    RETRIED_ON_PRIMARY,
    Replica,
)
from survey_app.lib.settings import PRIVATE_FILE_MODE, make_private, private_directory

# A writer waits this long for SQLite's lock before giving up; bursts of
# submissions queue behind one another instead of failing at once.
SQLITE_BUSY_TIMEOUT_S = 30.0

# Files SQLite keeps beside the database: the write-ahead log, its shared-memory
# index and the rollback journal. SQLite creates each with the database file's mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

# What a violated UNIQUE constraint raises on each engine.
UNIQUE_VIOLATIONS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    asyncpg.exceptions.UniqueViolationError,
)
# What an unreachable or overloaded database raises on each engine.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    sqlite3.OperationalError,
    asyncpg.exceptions.PostgresConnectionError,
    # Shut down by an administrator or a crash (CannotConnectNow is one of these).
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # A connection the server dropped mid-conversation (a shutdown) can refuse its next
    # query this way ("another operation is in progress"); the writer then reconnects.
    asyncpg.exceptions.InternalClientError,
)


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute/path.db`` -> a path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"not a SQLite URL (expected sqlite:///PATH): {url!r}")
    return Path(url[len(prefix) :])


def private_sqlite_files(path: Path) -> None:
    """Make the SQLite database at ``path`` readable by its owner only, whatever the umask.

    A missing directory is created ``0700`` and a missing database file ``0600`` (an empty
    file is an empty database), so SQLite never creates either under the umask; the
    ``-wal``, ``-shm`` and ``-journal`` files SQLite creates later copy the database file's
    mode. Existing files (from an earlier version, or a bulk load) lose their group and
    other permissions. Every engine is made through ``engine_from_url``, so ``survey
    migrate``, ``survey serve``, every CLI command and the bulk loader (which opens the
    engine's file with ``sqlite3``) find the files private.
    """
    private_directory(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        os.close(fd)
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        make_private(file)


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, reading outside transactions on pooled connections
    (``read_pool``) and keeping the register cache its own writes clear (``register``)."""

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self.read_pool = ReadPool(self.connection_kwargs)
        self.register = RegisterCache()

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False) -> Any:
        query, args = querystring.compile_string(engine_type=self.engine_type)
        if is_read(query) and self.current_transaction.get() is None and not self.log_queries:
            return await self.read_pool.fetch(query, args)
        response = await super().run_querystring(querystring, in_pool)
        self.register.wrote(query)
        return response


class CachingPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine, whose pool (started in the lifespan) already reuses each
    connection's prepared statements, keeping the register cache its own writes clear, and
    sending the reads of requests marked for it to a ``replica`` (``attach_replica``)."""

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        self.register = RegisterCache()
        self.replica: Replica | None = None

    def _replica_for(self, sql: str) -> Replica | None:
        """The replica, for a read outside a transaction in a request marked for it."""
        replica = self.replica
        if replica is None or not is_read(sql) or self.current_transaction.get() is not None:
            return None
        return replica if replica.serves() else None

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        replica = self._replica_for(querystring.template)
        if replica is not None:
            try:
                return await replica.engine.run_querystring(querystring, in_pool)
            except RETRIED_ON_PRIMARY as error:
                # The request in flight is answered from the primary instead.
                replica.failed(error)
        response = await super().run_querystring(querystring, in_pool)
        # Reads need no second compilation (tens of µs for a wide select) to be told apart.
        if not is_read(querystring.template):
            query, _ = querystring.compile_string(engine_type=self.engine_type)
            self.register.wrote(query)
        return response

    async def run_ddl(self, ddl: str, in_pool: bool = True) -> Any:
        # Raw reads (the statistics data version) follow the request's database too.
        replica = self._replica_for(ddl)
        if replica is not None:
            try:
                return await replica.engine.run_ddl(ddl, in_pool)
            except RETRIED_ON_PRIMARY as error:
                replica.failed(error)
        return await super().run_ddl(ddl, in_pool)


def engine_from_url(url: str) -> Engine:
    """Create (without connecting) the engine that ``url`` names.

    For SQLite the database file is created first, private (``private_sqlite_files``).
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = sqlite_path(url)
        private_sqlite_files(path)
        return PooledSQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT_S)
    if scheme in ("postgresql", "postgres"):
        return CachingPostgresEngine(config={"dsn": url})
    raise ValueError(
        f"unsupported DATABASE_URL scheme {scheme!r}: use sqlite:///PATH or postgresql://..."
    )


def bind_tables(engine: Engine, tables: list[type[Table]]) -> None:
    """Point every table at ``engine``.

    Piccolo tables are module-level classes, so the binding is process-wide;
    the app factory calls this once with the engine its settings name.
    """
    for table in tables:
        table._meta.db = engine


def attach_replica(engine: Engine, url: str, max_lag_s: float, check_s: float) -> Replica:
    """Send the reads of marked requests (``db.replica``) to the streaming replica at ``url``.

    Its engine is also the primary's ``extra_nodes["replica"]``, for a query that must read
    there whatever the request (``.run(node="replica")``, no fallback).
    """
    if not isinstance(engine, CachingPostgresEngine):
        raise ValueError(
            "a read replica needs a PostgreSQL primary (DATABASE_URL=postgresql://...)"
        )
    replica_engine = PostgresEngine(
        config={"dsn": url, "timeout": CONNECT_TIMEOUT_S, "command_timeout": COMMAND_TIMEOUT_S}
    )
    engine.replica = Replica(replica_engine, describe(url), max_lag_s, check_s)
    engine.extra_nodes = {REPLICA: replica_engine}
    return engine.replica


def describe(url: str) -> str:
    """The URL without its password, safe for logs and error messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


async def prepare(engine: Engine) -> None:
    """Per-database settings that must hold before serving."""
    if isinstance(engine, SQLiteEngine):
        # WAL lets readers run beside the writer; it is stored in the file,
        # so setting it once per start is enough for every later connection.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


def configure_reads(engine: Engine, register_cache_seconds: float) -> None:
    """How long this process may answer from its register cache (``Settings``)."""
    register = getattr(engine, "register", None)
    if register is not None:
        register.seconds = register_cache_seconds
        register.clear()


async def close_reads(engine: Engine) -> None:
    """Close the pooled read connections (they reopen if the engine is used again)."""
    if isinstance(engine, PooledSQLiteEngine):
        engine.read_pool.close()


async def read_by_key(engine: Engine, template: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of a read that finds them by a unique key (``{}`` marks each argument).

    On SQLite such a lookup runs on the calling thread when it can do so without waiting
    (``ReadPool.fetch_at_once``); otherwise, and on PostgreSQL, it is a read like any other.
    """
    querystring = QueryString(template, *args)
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is None:
        query, values = querystring.compile_string(engine_type=engine.engine_type)
        rows = engine.read_pool.fetch_at_once(query, values)
        if rows is not None:
            return rows
    return await engine.run_querystring(querystring)


async def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    await engine.run_ddl("SELECT 1")


def write_transaction(engine: Engine) -> AbstractAsyncContextManager:
    """A transaction for writing.

    On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``): a
    deferred transaction that upgrades from read to write can fail at once
    with "database is locked" instead of waiting its turn.
    """
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()
