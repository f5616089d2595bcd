"""The process's group-commit writer (``db.writer``) with the engine's store.

Its batches carry submissions (``submissions.plan``) and invitations to issue
(``invitations.batch``) alike: one writer per process, so that on SQLite,
which has one write lock per database, the two never queue for it against
each other, and one commit (one fsync) serves both kinds.
"""

from __future__ import annotations

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.db.writer import WRITER_NAME, GroupCommitWriter, WriterDep, WriterStats
from survey_app.submissions.plan import QuestionnaireOf
from survey_app.submissions.postgres import PostgresStore
from survey_app.submissions.sqlite import SqliteStore
from survey_app.webhooks.outbox import Outbox

__all__ = ["GroupCommitWriter", "WriterDep", "WriterStats", "writer_for"]


def writer_for(
    engine: Engine, questionnaire_of: QuestionnaireOf, outbox: Outbox | None = None
) -> GroupCommitWriter:
    """The writer for ``engine`` (not started: the app's lifespan starts and stops it).

    With an ``outbox`` its batches write the webhook events of the responses they store.
    """
    if isinstance(engine, SQLiteEngine):
        return GroupCommitWriter(SqliteStore(engine.path, questionnaire_of, WRITER_NAME, outbox))
    if isinstance(engine, PostgresEngine):
        dsn = engine.config["dsn"]
        return GroupCommitWriter(PostgresStore(dsn, questionnaire_of, WRITER_NAME, outbox))
    raise TypeError(f"no writer for {type(engine).__name__}")
