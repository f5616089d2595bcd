"""Group commit: one long-lived writer per process turns concurrent submissions into batches.

Each request puts its submission on a queue and waits for its own outcome;
the writer takes whatever has queued up, runs ``submissions.plan_batch`` for
all of it in one transaction and answers every request only after COMMIT
returned. While one batch commits, the next one gathers, so the cost of a
commit (an fsync) is shared by as many requests as arrive meanwhile.

- SQLite: a thread with one persistent ``sqlite3`` connection (Piccolo would
  open a connection per query), WAL with ``synchronous=FULL`` so that an
  acknowledged answer survives a power loss, not only a crash, and
  ``BEGIN IMMEDIATE`` so that writers of other processes queue instead of
  failing. Readers are never blocked by the writer under WAL.
- PostgreSQL (and CockroachDB): an asyncio task with one dedicated asyncpg
  connection, set-based statements (``= ANY``, ``unnest``), reconnecting
  after a failure so an outage ends without a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from questionnaires import Questionnaire
from survey_app.invitations import utcnow
from survey_app.storage.engine import SQLITE_BUSY_TIMEOUT_S
from survey_app.storage.rollup import upserts
from survey_app.submissions import Outcome, Step, Submission, plan_batch

log = logging.getLogger("survey.writer")

MAX_BATCH = 256
RETRIES = 3
RETRYABLE = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)
WRITER_NAME = "survey-writer"  # the application_name of its PostgreSQL connection
KEY_COLUMNS = "key_hash, role, agency, revoked"
INVITATION_COLUMNS = (
    "id, token, agency, service, channel, locale, questionnaire_id, expires_at, answered_at"
)
RESPONSE_COLUMNS = (
    "invitation, questionnaire_id, questionnaire_version, agency, service, channel, locale, "
    "submitted_at, overall, answers"
)
INSERT_REASON = "INSERT INTO response_reason (response, reason) VALUES ({0}, {1})"
INSERT_COMMENT = (
    "INSERT INTO comment (response, question, text, created_at) VALUES ({0}, {1}, {2}, {3})"
)

QuestionnaireOf = Callable[[str], Questionnaire | None]
Pending = tuple[Submission, asyncio.AbstractEventLoop, asyncio.Future[Outcome]]


@dataclass
class WriterStats:
    """How many batches carried how many submissions (for tests and benchmarks)."""

    batches: int = 0
    submissions: int = 0
    largest: int = 0

    def count(self, size: int) -> None:
        self.batches += 1
        self.submissions += size
        self.largest = max(self.largest, size)


def _settle_all(settled: list[tuple[asyncio.Future[Outcome], Outcome | BaseException]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


def _settle(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if future.done():  # the client went away; its answer is stored all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class SqliteWriter:
    """The SQLite writer thread; ``submit`` may be awaited from any event loop."""

    def __init__(self, path: str, questionnaire_of: QuestionnaireOf) -> None:
        self.stats = WriterStats()
        self._path = path
        self._questionnaire_of = questionnaire_of
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None

    async def start(self) -> None:
        self._connection = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False,
            timeout=SQLITE_BUSY_TIMEOUT_S,
        )  # fmt: skip
        self._connection.row_factory = sqlite3.Row
        self._connection.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so a 2xx survives power loss.
        self._connection.execute("PRAGMA synchronous=FULL")
        self._thread = threading.Thread(target=self._run, name="survey-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        log.info("writer stopped: %s", self.stats)
        if self._connection is not None:
            self._connection.close()

    async def submit(self, submission: Submission) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((submission, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            results = self._commit([submission for submission, _, _ in batch])
            self.stats.count(len(batch))
            # One wake-up per event loop, not one per request.
            by_loop: dict[asyncio.AbstractEventLoop, list] = {}
            for (_, loop, future), result in zip(batch, results, strict=True):
                by_loop.setdefault(loop, []).append((future, result))
            for loop, settled in by_loop.items():
                loop.call_soon_threadsafe(_settle_all, settled)
            if stop:
                return

    def _commit(self, batch: list[Submission]) -> list[Outcome] | list[BaseException]:
        assert self._connection is not None
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            outcomes = _drive_sync(plan_batch(batch, utcnow(), self._questionnaire_of), self)
            connection.execute("COMMIT")
        except Exception as error:  # every request of the batch learns why (503 for the API)
            if connection.in_transaction:
                connection.rollback()
            log.warning("batch of %d not stored: %s", len(batch), type(error).__name__)
            return [error] * len(batch)
        return outcomes

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
        rows = self._connection.execute(  # type: ignore[union-attr]
            "UPDATE invitation SET answered_at = ? "
            f"WHERE answered_at IS NULL AND id IN ({marks}) RETURNING id",
            (_sqlite_text(now), *ids),
        ).fetchall()
        return [row[0] for row in rows]

    def insert_responses(self, rows: list[tuple]) -> list[tuple[int, int]]:
        one = "(" + ", ".join("?" * 10) + ")"
        params = [value for row in rows for value in (*row[:7], _sqlite_text(row[7]), *row[8:])]
        found = self._connection.execute(  # type: ignore[union-attr]
            f"INSERT INTO response ({RESPONSE_COLUMNS}) VALUES "
            f"{', '.join([one] * len(rows))} RETURNING invitation, id",
            params,
        ).fetchall()
        return [(row[0], row[1]) for row in found]

    def insert_reasons(self, rows: list[tuple]) -> None:
        self._connection.executemany(INSERT_REASON.format("?", "?"), rows)  # type: ignore[union-attr]

    def insert_comments(self, rows: list[tuple]) -> None:
        sql = INSERT_COMMENT.format("?", "?", "?", "?")
        self._connection.executemany(  # type: ignore[union-attr]
            sql, [(*row[:3], _sqlite_text(row[3])) for row in rows]
        )

    def upsert_cells(self, cells: Counter) -> None:
        for sql, rows in upserts(cells, sqlite=True):
            self._connection.executemany(sql, rows)  # type: ignore[union-attr]

    def _select(self, head: str, values: list[str]) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(values))
        cursor = self._connection.execute(f"{head} IN ({marks})", values)  # type: ignore[union-attr]
        return [dict(row) for row in cursor.fetchall()]


def _sqlite_text(value: dt.datetime) -> str:
    """How Piccolo stores an aware time in SQLite, so its reads parse ours."""
    return str(value.astimezone(dt.UTC))


def _sqlite_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _drive_sync(plan: Generator[Step, Any, list[Outcome]], writer: Any) -> list[Outcome]:
    result: Any = None
    try:
        while True:
            step = plan.send(result)
            result = getattr(writer, step.name)(*step.args)
    except StopIteration as done:
        return done.value


class PostgresWriter:
    """The PostgreSQL writer task, on the event loop that started it."""

    def __init__(self, dsn: str, questionnaire_of: QuestionnaireOf) -> None:
        self.stats = WriterStats()
        self._dsn = dsn
        self._questionnaire_of = questionnaire_of
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="survey-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        log.info("writer stopped: %s", self.stats)
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def submit(self, submission: Submission) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((submission, asyncio.get_running_loop(), future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    stop = True
                    break
                batch.append(more)
            results = await self._commit([submission for submission, _, _ in batch])
            self.stats.count(len(batch))
            for (_, _, future), result in zip(batch, results, strict=True):
                _settle(future, result)
            if stop:
                return

    async def _commit(self, batch: list[Submission]) -> list[Outcome] | list[BaseException]:
        for attempt in range(1, RETRIES + 1):
            try:
                if self._connection is None or self._connection.is_closed():
                    self._connection = await asyncpg.connect(
                        self._dsn, timeout=5, server_settings={"application_name": WRITER_NAME}
                    )
                async with self._connection.transaction():
                    plan = plan_batch(batch, utcnow(), self._questionnaire_of)
                    return await self._drive(plan)
            except RETRYABLE as error:
                # Another worker's writer locked the same rows in another order (or
                # CockroachDB asks for a retry); the batch was rolled back whole.
                if attempt < RETRIES:
                    continue
                return self._failed(batch, error)
            except Exception as error:
                return self._failed(batch, error)
        raise AssertionError("unreachable: the last attempt returns")

    def _failed(self, batch: list[Submission], error: Exception) -> list[BaseException]:
        """Every request of the batch learns why (503 for the API when the database is away)."""
        log.warning("batch of %d not stored: %s", len(batch), type(error).__name__)
        if self._connection is not None and not isinstance(error, asyncpg.PostgresError):
            # Not an SQL error: the connection itself may be broken; start afresh.
            self._connection.terminate()
            self._connection = None
        return [error] * len(batch)

    async def _drive(self, plan: Generator[Step, Any, list[Outcome]]) -> list[Outcome]:
        result: Any = None
        try:
            while True:
                step = plan.send(result)
                result = await getattr(self, step.name)(*step.args)
        except StopIteration as done:
            return done.value

    # The steps of ``plan_batch``.
    async def keys(self, hashes: list[str]) -> list[dict[str, Any]]:
        sql = f"SELECT {KEY_COLUMNS} FROM api_key WHERE key_hash = ANY($1::varchar[])"
        return [dict(row) for row in await self._conn.fetch(sql, hashes)]

    async def invitations(self, tokens: list[str]) -> list[dict[str, Any]]:
        sql = f"SELECT {INVITATION_COLUMNS} FROM invitation WHERE token = ANY($1::varchar[])"
        return [dict(row) for row in await self._conn.fetch(sql, tokens)]

    async def claim(self, now: dt.datetime, ids: list[int]) -> list[int]:
        rows = await self._conn.fetch(
            "UPDATE invitation SET answered_at = $1 "
            "WHERE answered_at IS NULL AND id = ANY($2::integer[]) RETURNING id",
            now,
            ids,
        )
        return [row["id"] for row in rows]

    async def insert_responses(self, rows: list[tuple]) -> list[tuple[int, int]]:
        columns = list(zip(*rows, strict=True))
        found = await self._conn.fetch(
            f"INSERT INTO response ({RESPONSE_COLUMNS}) SELECT * FROM unnest("
            "$1::integer[], $2::varchar[], $3::integer[], $4::integer[], $5::integer[], "
            "$6::varchar[], $7::varchar[], $8::timestamptz[], $9::smallint[], $10::json[]"
            ") RETURNING invitation, id",
            *columns,
        )
        return [(row["invitation"], row["id"]) for row in found]

    async def insert_reasons(self, rows: list[tuple]) -> None:
        await self._conn.executemany(INSERT_REASON.format("$1", "$2"), rows)

    async def insert_comments(self, rows: list[tuple]) -> None:
        await self._conn.executemany(INSERT_COMMENT.format("$1", "$2", "$3", "$4"), rows)

    async def upsert_cells(self, cells: Counter) -> None:
        for sql, rows in upserts(cells, sqlite=False):
            await self._conn.executemany(sql, rows)

    @property
    def _conn(self) -> asyncpg.Connection:
        assert self._connection is not None
        return self._connection


def writer_for(engine: Engine, questionnaire_of: QuestionnaireOf) -> SqliteWriter | PostgresWriter:
    """The writer for ``engine`` (not started: the app's lifespan starts and stops it)."""
    if isinstance(engine, SQLiteEngine):
        return SqliteWriter(engine.path, questionnaire_of)
    if isinstance(engine, PostgresEngine):  # CockroachEngine is one too
        return PostgresWriter(engine.config["dsn"], questionnaire_of)
    raise TypeError(f"no submission writer for {type(engine).__name__}")
