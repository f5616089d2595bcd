"""Insert many responses at once (demo data, tests, benchmarks), each with its invitation.

The rows are exactly those the normal submission path stores (an answered
invitation, its response, one row per reason) and the statistics cells are
updated in the same transaction as the responses they count. A chunk may also
carry invitations that were never answered (``Unanswered``): stored as issued,
with no response and nothing counted in the cells, they are the nonresponse.

Speed comes from skipping the ORM: one raw connection for the whole load, ids
reserved up front so nothing is read back, and one transaction per chunk of
``CHUNK`` responses (``executemany`` on SQLite, binary ``COPY`` on PostgreSQL).

``columns`` holds the chunk data and what both engines derive from it;
``sqlite`` and ``postgres`` hold the loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.db.bulk.columns import CHUNK, Columns, Served, Synthetic, Unanswered
from survey_app.db.bulk.postgres import load_postgres
from survey_app.db.bulk.sqlite import load_sqlite
from survey_app.db.cells import rating_questions
from survey_app.db.tables import Response

__all__ = ["CHUNK", "Columns", "Synthetic", "Unanswered", "insert_columns", "insert_responses"]


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
    """Store each chunk in a transaction of its own, cells included; returns the
    count of responses (unanswered invitations are stored but not counted).

    ``chunks`` may be a generator: only one chunk is in memory at a time.
    """
    engine = Response._meta.db
    ratings = {
        qid: asked
        for (qid, version), asked in (await rating_questions()).items()
        if version == questionnaire_version
    }
    served = Served(questionnaire_version, ratings)
    if isinstance(engine, SQLiteEngine):
        return load_sqlite(engine, chunks, served, progress)
    if isinstance(engine, PostgresEngine):
        return await load_postgres(engine, chunks, served, progress)
    raise TypeError(f"bulk loading does not support {type(engine).__name__}")
