"""Pre-issue many open invitations quickly, straight into the ``invitation`` table.

Issuing 200,000 through the API would take longer than the benchmark; rows are
written in the formats Piccolo itself writes, so the service cannot tell them
apart: on SQLite a timestamp is ``str()`` of an aware UTC datetime
(``2026-11-25 00:52:41.123456+00:00``), on PostgreSQL a ``timestamptz``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg

from benchmarks.databases import Target, closing_sqlite
from benchmarks.survey_cli import create_key, survey
from survey_app.db.bulk.columns import INVITATION_COLUMNS

QUESTIONNAIRE_ID = "public-service-satisfaction"
AGENCY = "BENCH"
SERVICE = "BENCH-SERVICE"
INVITATION_DAYS = 14
# The invitation table's columns but its id, which the database assigns.
COLUMNS = INVITATION_COLUMNS[1:]
SQLITE_INSERT = (
    'INSERT INTO "invitation" ("token", "transaction_key", "agency", "service", "channel", '
    '"locale", "questionnaire_id", "created_at", "expires_at", "answered_at") '
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Directory:
    agency_id: int
    service_id: int


def register(made: Target) -> tuple[Directory, str]:
    """The agency and service every benchmark invitation belongs to, and a portal key.

    All through the real CLI; the service and the key need only the agency, so
    those two commands run side by side (each command is mostly start-up time).
    """
    survey(made, "agency", "add", AGENCY, "--kind", "ministry", "--name", "Bộ Đo lường")
    with ThreadPoolExecutor(max_workers=2) as pool:
        service = pool.submit(
            survey, made, "service", "add", SERVICE, "--agency", AGENCY, "--name", "Dịch vụ đo"
        )
        key = pool.submit(create_key, made, AGENCY, "portal")
        service.result()
    agency_id = made.scalar('SELECT "id" FROM "agency" WHERE "code" = ?', [AGENCY])
    service_id = made.scalar('SELECT "id" FROM "service" WHERE "code" = ?', [SERVICE])
    return Directory(agency_id=agency_id, service_id=service_id), key.result()


def rows(directory: Directory, count: int) -> tuple[list[str], list[tuple[object, ...]]]:
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(days=INVITATION_DAYS)
    tokens = [secrets.token_urlsafe(24) for _ in range(count)]
    records = [
        (
            token,
            secrets.token_hex(32),
            directory.agency_id,
            directory.service_id,
            "web",
            "vi",
            QUESTIONNAIRE_ID,
            now,
            expires,
            None,
        )
        for token in tokens
    ]
    return tokens, records


def issue(made: Target, directory: Directory, count: int) -> list[str]:
    """Insert ``count`` open invitations; their tokens, in insertion order."""
    tokens, records = rows(directory, count)
    if made.engine == "sqlite":
        text = [(*r[:7], str(r[7]), str(r[8]), None) for r in records]
        with closing_sqlite(made.sqlite_file) as connection, connection:
            connection.executemany(SQLITE_INSERT, text)
    else:
        asyncio.run(_copy(made.url, records))
    return tokens


async def _copy(url: str, records: list[tuple[object, ...]]) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table("invitation", records=records, columns=COLUMNS)
    finally:
        await connection.close()
