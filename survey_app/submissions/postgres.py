"""The PostgreSQL store of the group-commit writer (``db.writer``).

One dedicated asyncpg connection on the event loop, set-based statements
(``= ANY``, ``unnest``); after a failure that is not an SQL error the
connection is dropped and the next batch reconnects, so an outage ends
without a restart. Deadlocks and serialization failures (writers of other
workers locking the same cell rows) are retried.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Generator
from typing import Any

import asyncpg

from survey_app.db.cells import INVITATION, MONTHLY_INVITATION, Cells, upserts
from survey_app.db.writer import Step
from survey_app.invitations.batch import CHECKS, INSERT_COLUMNS, ISSUED
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

# The invitations, then their counts per cell of the day and of the month: data-modifying
# CTEs all run, whether the final SELECT reads them or not.
_CELL = "agency, service, channel, questionnaire_id"
INSERT_AND_COUNT = (
    f"WITH ins AS (INSERT INTO invitation ({INSERT_COLUMNS}) SELECT * FROM unnest("
    "$1::varchar[], $2::varchar[], $3::integer[], $4::integer[], $5::varchar[], "
    "$6::varchar[], $7::varchar[], $8::timestamptz[], $9::timestamptz[]"
    f") ON CONFLICT (transaction_key) DO NOTHING RETURNING transaction_key, {_CELL}), "
    f"counted AS (SELECT {_CELL}, count(*)::integer AS n FROM ins GROUP BY {_CELL}), "
    f"daily AS (INSERT INTO invitation_cell ({', '.join(INVITATION)}, invitations) "
    f"SELECT $10::date, {_CELL}, n FROM counted ORDER BY {_CELL} "
    f"ON CONFLICT ({', '.join(INVITATION)}) DO UPDATE "
    "SET invitations = invitation_cell.invitations + excluded.invitations), "
    f"monthly AS (INSERT INTO monthly_invitation ({', '.join(MONTHLY_INVITATION)}, invitations) "
    f"SELECT $11::date, {_CELL}, n FROM counted ORDER BY {_CELL} "
    f"ON CONFLICT ({', '.join(MONTHLY_INVITATION)}) DO UPDATE "
    "SET invitations = monthly_invitation.invitations + excluded.invitations) "
    "SELECT transaction_key FROM ins"
)
# The events and their deliveries in one statement (one round trip).
INSERT_EVENTS = (
    f"WITH ev AS (INSERT INTO webhook_event ({EVENT_COLUMNS}) SELECT * FROM unnest("
    "$1::varchar[], $2::varchar[], $3::integer[], $4::integer[], $5::json[], $6::timestamptz[]"
    ") RETURNING id, agency, type, created_at) " + FAN_OUT.format(events="ev")
)
RETRIES = 3
RETRYABLE = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


class PostgresStore:
    def __init__(
        self,
        dsn: str,
        questionnaire_of: QuestionnaireOf,
        name: str,
        outbox: Outbox | None = None,
    ) -> None:
        self._dsn = dsn
        self._name = name  # the connection's application_name
        self._questionnaire_of = questionnaire_of
        self._outbox = outbox
        self._webhooks = outbox.register() if outbox is not None else None
        self._connection: asyncpg.Connection | None = None

    async def open(self) -> None:
        """Nothing yet: the first batch connects, so start-up needs no database."""

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def commit(self, batch: list[object]) -> list[Any]:
        for attempt in range(1, RETRIES + 1):
            try:
                if self._connection is None or self._connection.is_closed():
                    self._connection = await asyncpg.connect(
                        self._dsn, timeout=5, server_settings={"application_name": self._name}
                    )
                async with self._connection.transaction():
                    plan = plan_jobs(batch, utcnow(), self._questionnaire_of, self._outbox)
                    return await self._drive(plan)
            except RETRYABLE as error:
                # Another worker's writer locked the same rows in another order;
                # the batch was rolled back whole.
                if attempt < RETRIES:
                    continue
                return self._failed(batch, error)
            except Exception as error:
                return self._failed(batch, error)
        raise AssertionError("unreachable: the last attempt returns")

    def _failed(self, batch: list[object], error: Exception) -> list[BaseException]:
        """Every request of the batch learns why (503 for the API when the database is away)."""
        log.warning("batch of %d not stored: %s", len(batch), type(error).__name__)
        if self._connection is not None and not isinstance(error, asyncpg.PostgresError):
            # Not an SQL error: the connection itself may be broken; start afresh.
            self._connection.terminate()
            self._connection = None
        return [error] * len(batch)

    async def _drive(self, plan: Generator[Step, Any, list[Any]]) -> list[Any]:
        result: Any = None
        try:
            while True:
                step = plan.send(result)
                result = await getattr(self, step.name)(*step.args)
        except StopIteration as done:
            return done.value

    @property
    def _conn(self) -> asyncpg.Connection:
        assert self._connection is not None
        return self._connection

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

    async def upsert_cells(self, cells: Cells) -> None:
        for sql, rows in upserts(cells, sqlite=False):
            await self._conn.executemany(sql, rows)

    async def webhook_register(self, reload: bool) -> Subscriptions:
        assert self._webhooks is not None
        known = None if reload else self._webhooks.fresh()
        if known is not None:
            return known
        return self._webhooks.keep(dict(row) for row in await self._conn.fetch(REGISTER))

    async def insert_events(self, rows: list[tuple]) -> None:
        await self._conn.execute(INSERT_EVENTS, *zip(*rows, strict=True))

    async def checks(self, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        sql = CHECKS.format(pairs="SELECT * FROM unnest($1::varchar[], $2::varchar[])")
        return [dict(row) for row in await self._conn.fetch(sql, *zip(*pairs, strict=True))]

    async def issued(self, keys: list[str]) -> list[dict[str, Any]]:
        sql = f"{ISSUED} = ANY($1::varchar[])"
        return [dict(row) for row in await self._conn.fetch(sql, keys)]

    async def insert_invitations(self, rows: list[tuple], day: dt.date) -> list[str]:
        """The keys inserted, counted in the cells, in one statement (one round trip); a key
        another transaction committed is skipped, not an error."""
        found = await self._conn.fetch(
            INSERT_AND_COUNT, *zip(*rows, strict=True), day, day.replace(day=1)
        )
        return [row["transaction_key"] for row in found]
