"""SQLite reads on a few long-lived connections instead of a new connection per query.

Piccolo's SQLite engine opens (and closes) a connection for every query outside a
transaction, through an aiosqlite thread of its own. ``ReadPool`` keeps up to
``READ_POOL_SIZE`` plain ``sqlite3`` connections open for ``SELECT`` statements only;
every other statement (writes, DDL, PRAGMA) and every transaction keeps Piccolo's path.

A query runs whole in a worker thread of the calling loop's executor: take a connection,
execute, read every row, give the connection back. So:
- no connection holds a read transaction (a snapshot) between queries: they are in
  autocommit mode and each statement is read to its end, which resets it; every query sees
  every commit made before it began, by any connection or process;
- nothing is bound to an event loop: any loop of the process (a TestClient's, a command's
  ``asyncio.run``) borrows the same connections, one query at a time each;
- a cancelled caller cannot strand a connection mid-query: the thread finishes and gives
  it back;
- after a fork the child starts with an empty pool (``_after_fork``);
- ``close`` closes the idle connections; one in use is closed when it comes back.

A lookup by a unique key (``fetch_at_once``) may instead run on the caller's own thread,
on a connection of its own that never waits for a lock: a few tens of microseconds,
less than handing the query to a thread costs. Should SQLite have to wait (a lock held
during recovery, another thread on that connection), it says so at once and the caller
takes the pooled path.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from typing import Any

from piccolo.engine.sqlite import dict_factory

# Connections kept open per process. Queries run in the loop's executor threads, so about
# that many run at once; beyond this many, a query opens (and closes) its own connection.
READ_POOL_SIZE = 8

# Connections a forked child inherited: never used, and never closed, since closing a
# SQLite file descriptor drops every POSIX lock the process holds on that file, the
# child's own included.
_INHERITED: list[sqlite3.Connection] = []


def is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class ReadPool:
    """Up to ``size`` open SQLite connections for ``SELECT`` statements."""

    def __init__(self, connection_kwargs: dict[str, Any], size: int = READ_POOL_SIZE) -> None:
        self.connection_kwargs = connection_kwargs
        self.size = size
        self._idle: list[sqlite3.Connection] = []
        # Connections taken before the last ``close`` are closed when they come back.
        self._generation = 0
        self._pid = os.getpid()
        # Worker threads of several event loops share the pool.
        self._lock = threading.Lock()
        self._at_once: sqlite3.Connection | None = None
        self._at_once_pid = 0
        self._at_once_lock = threading.Lock()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _after_fork(self) -> None:
        if self._pid != os.getpid():
            _INHERITED.extend(self._idle)
            self._idle, self._pid = [], os.getpid()

    def _connect(self, **overrides: Any) -> sqlite3.Connection:
        # The threads of the executor take turns with each connection, never two at once.
        connection = sqlite3.connect(
            **(self.connection_kwargs | overrides), check_same_thread=False
        )
        connection.row_factory = dict_factory
        connection.execute("PRAGMA foreign_keys = 1")
        return connection

    def _take(self) -> tuple[sqlite3.Connection, int]:
        with self._lock:
            self._after_fork()
            if self._idle:
                return self._idle.pop(), self._generation
            generation = self._generation
        return self._connect(), generation

    def _give_back(self, connection: sqlite3.Connection, generation: int) -> None:
        with self._lock:
            keep = (
                generation == self._generation
                and self._pid == os.getpid()
                and len(self._idle) < self.size
                # Someone began a transaction on it: it would hold a snapshot.
                and not connection.in_transaction
            )
            if keep:
                self._idle.append(connection)
        if not keep:
            connection.close()

    def fetch_at_once(self, query: str, args: list[Any]) -> list[dict[str, Any]] | None:
        """The rows of ``query`` read on this thread, or None if that would mean waiting."""
        if not self._at_once_lock.acquire(blocking=False):
            return None
        try:
            if self._at_once_pid != os.getpid():
                if self._at_once is not None:
                    _INHERITED.append(self._at_once)
                self._at_once = self._connect(timeout=0)
                self._at_once_pid = os.getpid()
            try:
                return self._at_once.execute(query, args).fetchall()
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    return None
                raise
        finally:
            self._at_once_lock.release()

    def fetch_now(self, query: str, args: list[Any]) -> list[dict[str, Any]]:
        """The rows of ``query``, read to the end on a pooled connection (blocking)."""
        connection, generation = self._take()
        try:
            rows = connection.execute(query, args).fetchall()
        except BaseException:
            connection.close()
            raise
        self._give_back(connection, generation)
        return rows

    async def fetch(self, query: str, args: list[Any]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.fetch_now, query, args)

    def close(self) -> None:
        """Close the idle connections; the pool opens new ones if it is used again."""
        with self._lock:
            self._after_fork()
            idle, self._idle = self._idle, []
            self._generation += 1
        with self._at_once_lock:
            if self._at_once is not None and self._at_once_pid == os.getpid():
                idle.append(self._at_once)
            self._at_once, self._at_once_pid = None, 0
        for connection in idle:
            connection.close()
