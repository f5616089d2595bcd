"""SQLite reads on a few long-lived connections instead of a new connection per query.

Piccolo's SQLite engine opens (and closes) a connection for every query outside a
transaction: about 6 ms each, most of a citizen page's time. ``ReadPool`` keeps up to
``READ_POOL_SIZE`` connections open for plain ``SELECT`` statements only; every other
statement (writes, DDL, PRAGMA) and every transaction keeps Piccolo's own path.

Why it is safe:
- Connections are in autocommit mode (``isolation_level=None``) and each statement's cursor
  is read to the end and closed, so no connection holds a read transaction (a snapshot)
  between queries: every query sees every commit made before it began, by any process.
- aiosqlite runs each connection in its own thread and answers on the loop of the call,
  so a connection idle in the pool can serve any event loop of the process (a test's
  TestClient, ``asyncio.run`` in a command); one query uses it at a time.
- After a fork the child starts with an empty pool (see ``_after_fork``).
- ``close`` closes the idle connections; one still in use is closed when it comes back.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import dict_factory

# Queries of one process at the same time on their own pooled connection; more than that at
# once each open a connection of their own, as Piccolo would (slower, never blocked).
READ_POOL_SIZE = 4

# Connections a forked child inherited: never used, and never closed, since closing a
# SQLite file descriptor drops every POSIX lock the process holds on that file, the
# child's own included.
_INHERITED: list[aiosqlite.Connection] = []


def is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class ReadPool:
    """Up to ``size`` open SQLite connections for ``SELECT`` statements."""

    def __init__(self, connection_kwargs: dict[str, Any], size: int = READ_POOL_SIZE) -> None:
        self.connection_kwargs = connection_kwargs
        self.size = size
        self._idle: list[aiosqlite.Connection] = []
        self._open = 0
        # Connections opened before the last ``close`` are closed when they come back.
        self._generation = 0
        self._pid = os.getpid()
        # Several event loops (threads) of one process share the pool.
        self._lock = threading.Lock()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _after_fork(self) -> None:
        if self._pid != os.getpid():
            _INHERITED.extend(self._idle)
            self._idle, self._open, self._pid = [], 0, os.getpid()

    async def _connect(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(**self.connection_kwargs)
        # aiosqlite's worker thread is not a daemon: a pooled connection nobody closed (a
        # script that never shuts the engine down) would keep the interpreter from exiting.
        connection._thread.daemon = True
        await connection
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def _take(self) -> tuple[aiosqlite.Connection, int | None]:
        """A connection and the pool generation it belongs to (None: not pooled)."""
        with self._lock:
            self._after_fork()
            if self._idle:
                return self._idle.pop(), self._generation
            pooled = self._open < self.size
            if pooled:
                self._open += 1
            generation = self._generation if pooled else None
        try:
            return await self._connect(), generation
        except BaseException:
            if pooled:
                with self._lock:
                    self._open -= 1
            raise

    def _give_back(self, connection: aiosqlite.Connection, generation: int) -> bool:
        """Keep ``connection`` for the next query; False when it must be closed instead."""
        with self._lock:
            if generation != self._generation or self._pid != os.getpid():
                return False
            if connection.in_transaction:
                # Someone began a transaction on it: it would hold a snapshot.
                self._open -= 1
                return False
            self._idle.append(connection)
            return True

    def _forget(self, generation: int | None) -> None:
        with self._lock:
            if generation == self._generation and self._pid == os.getpid():
                self._open -= 1

    async def fetch(self, query: str, args: list[Any]) -> list[dict[str, Any]]:
        """The rows of ``query``, read to the end on a pooled connection."""
        connection, generation = await self._take()
        try:
            async with connection.execute(query, args) as cursor:
                rows = await cursor.fetchall()
        except BaseException:
            # A failed or cancelled query may leave the connection mid-statement.
            self._forget(generation)
            connection.stop()
            raise
        if generation is None or not self._give_back(connection, generation):
            await connection.close()
        return rows

    async def close(self) -> None:
        """Close the idle connections; the pool opens new ones if it is used again."""
        with self._lock:
            self._after_fork()
            idle, self._idle = self._idle, []
            self._open = 0
            self._generation += 1
        for connection in idle:
            await connection.close()
