"""The SQLite store of the group-commit writer (``db.writer``).

One persistent ``sqlite3`` connection (Piccolo would open a connection per
query), used by one thread of its own so the event loop never waits on the
disk; WAL with ``synchronous=FULL`` so that an acknowledged answer survives a
power loss, not only a crash; ``BEGIN IMMEDIATE`` so that writers of other
processes queue instead of failing. Readers are never blocked by the writer
under WAL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from survey_app.db.cells import Cells, invitation_upserts, upserts
from survey_app.db.engine import SQLITE_BUSY_TIMEOUT_S
from survey_app.db.writer import Step
from survey_app.invitations.batch import CHECKS, INSERT_COLUMNS, ISSUED, counts
from survey_app.lib.clock import utcnow
from survey_app.submissions.jobs import plan_jobs
from survey_app.submissions.plan import (
    INSERT_COMMENT,
    INSERT_REASON,
    INVITATION_COLUMNS,
    KEY_COLUMNS,
    RESPONSE_COLUMNS,
    QuestionnaireOf,
)
from survey_app.webhooks.outbox import EVENT_COLUMNS, FAN_OUT, REGISTER, Outbox, Subscriptions

log = logging.getLogger("survey.writer")


class SqliteStore:
    def __init__(
        self,
        path: str,
        questionnaire_of: QuestionnaireOf,
        name: str,
        outbox: Outbox | None = None,
    ) -> None:
        self._path = path
        self._questionnaire_of = questionnaire_of
        self._outbox = outbox
        self._webhooks = outbox.register() if outbox is not None else None
        # One thread: the connection is only ever used from it.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._connect)

    async def commit(self, batch: list[object]) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._commit, batch)

    async def close(self) -> None:
        if self._connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._connection.close)
            self._connection = None
        self._thread.shutdown()

    def _connect(self) -> None:
        connection = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False,
            timeout=SQLITE_BUSY_TIMEOUT_S,
        )  # fmt: skip
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so a 2xx survives power loss.
        connection.execute("PRAGMA synchronous=FULL")
        self._connection = connection

    def _commit(self, batch: list[object]) -> list[Any]:
        connection = self._conn
        try:
            connection.execute("BEGIN IMMEDIATE")
            outcomes = self._drive(plan_jobs(batch, utcnow(), self._questionnaire_of, self._outbox))
            connection.execute("COMMIT")
        except Exception as error:  # every request of the batch learns why (503 for the API)
            if connection.in_transaction:
                connection.rollback()
            log.warning("batch of %d not stored: %s", len(batch), type(error).__name__)
            return [error] * len(batch)
        return outcomes

    def _drive(self, plan: Generator[Step, Any, list[Any]]) -> list[Any]:
        result: Any = None
        try:
            while True:
                step = plan.send(result)
                result = getattr(self, step.name)(*step.args)
        except StopIteration as done:
            return done.value

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._connection is not None
        return self._connection

    # The steps of ``plan_batch``.
    def keys(self, hashes: list[str]) -> list[dict[str, Any]]:
        return self._select(f"SELECT {KEY_COLUMNS} FROM api_key WHERE key_hash", hashes)

    def invitations(self, tokens: list[str]) -> list[dict[str, Any]]:
        rows = self._select(f"SELECT {INVITATION_COLUMNS} FROM invitation WHERE token", tokens)
        for row in rows:
            row["expires_at"] = _sqlite_time(row["expires_at"])
            row["answered_at"] = _sqlite_time(row["answered_at"])
        return rows

    def claim(self, now: dt.datetime, ids: list[int]) -> list[int]:
        marks = ", ".join("?" * len(ids))
        rows = self._conn.execute(
            "UPDATE invitation SET answered_at = ? "
            f"WHERE answered_at IS NULL AND id IN ({marks}) RETURNING id",
            (_sqlite_text(now), *ids),
        ).fetchall()
        return [row[0] for row in rows]

    def insert_responses(self, rows: list[tuple]) -> list[tuple[int, int]]:
        one = "(" + ", ".join("?" * 10) + ")"
        params = [value for row in rows for value in (*row[:7], _sqlite_text(row[7]), *row[8:])]
        found = self._conn.execute(
            f"INSERT INTO response ({RESPONSE_COLUMNS}) VALUES "
            f"{', '.join([one] * len(rows))} RETURNING invitation, id",
            params,
        ).fetchall()
        return [(row[0], row[1]) for row in found]

    def insert_reasons(self, rows: list[tuple]) -> None:
        self._conn.executemany(INSERT_REASON.format("?", "?"), rows)

    def insert_comments(self, rows: list[tuple]) -> None:
        sql = INSERT_COMMENT.format("?", "?", "?", "?")
        self._conn.executemany(sql, [(*row[:3], _sqlite_text(row[3])) for row in rows])

    def upsert_cells(self, cells: Cells) -> None:
        for sql, rows in upserts(cells, sqlite=True):
            self._conn.executemany(sql, rows)

    def webhook_register(self, reload: bool) -> Subscriptions:
        assert self._webhooks is not None
        known = None if reload else self._webhooks.fresh()
        if known is not None:
            return known
        return self._webhooks.keep(dict(row) for row in self._conn.execute(REGISTER).fetchall())

    def insert_events(self, rows: list[tuple]) -> None:
        one = "(" + ", ".join("?" * 6) + ")"
        params = [value for row in rows for value in (*row[:5], _sqlite_text(row[5]))]
        ids = self._conn.execute(
            f"INSERT INTO webhook_event ({EVENT_COLUMNS}) VALUES "
            f"{', '.join([one] * len(rows))} RETURNING id",
            params,
        ).fetchall()
        marks = ", ".join("?" * len(ids))
        events = f"(SELECT * FROM webhook_event WHERE id IN ({marks}))"
        self._conn.execute(FAN_OUT.format(events=events), [row[0] for row in ids])

    def checks(self, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        sql = CHECKS.format(pairs=f"VALUES {', '.join(['(?, ?)'] * len(pairs))}")
        cursor = self._conn.execute(sql, [value for pair in pairs for value in pair])
        return [dict(row) for row in cursor.fetchall()]

    def issued(self, keys: list[str]) -> list[dict[str, Any]]:
        rows = self._select(ISSUED, keys)
        for row in rows:
            row["expires_at"] = _sqlite_time(row["expires_at"])
        return rows

    def insert_invitations(self, rows: list[tuple], day: dt.date) -> list[str]:
        """The keys inserted, counted in the cells; a key already stored is skipped."""
        one = "(" + ", ".join("?" * 9) + ")"
        params = [
            value
            for row in rows
            for value in (*row[:7], _sqlite_text(row[7]), _sqlite_text(row[8]))
        ]
        found = self._conn.execute(
            f"INSERT INTO invitation ({INSERT_COLUMNS}) VALUES {', '.join([one] * len(rows))} "
            "ON CONFLICT (transaction_key) DO NOTHING RETURNING transaction_key",
            params,
        ).fetchall()
        created = [row[0] for row in found]
        for sql, cells in invitation_upserts(counts(rows, set(created), day), sqlite=True):
            self._conn.executemany(sql, cells)
        return created

    def _select(self, head: str, values: list[str]) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(values))
        cursor = self._conn.execute(f"{head} IN ({marks})", values)
        return [dict(row) for row in cursor.fetchall()]


def _sqlite_text(value: dt.datetime) -> str:
    """How Piccolo stores an aware time in SQLite, so its reads parse ours."""
    return str(value.astimezone(dt.UTC))


def _sqlite_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
