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

__all__ = ["GroupCommitWriter", "WriterDep", "WriterStats", "writer_for"]


def writer_for(engine: Engine, questionnaire_of: QuestionnaireOf) -> GroupCommitWriter:
    """The writer for ``engine`` (not started: the app's lifespan starts and stops it)."""
    if isinstance(engine, SQLiteEngine):
        return GroupCommitWriter(SqliteStore(engine.path, questionnaire_of, WRITER_NAME))
    if isinstance(engine, PostgresEngine):
        return GroupCommitWriter(PostgresStore(engine.config["dsn"], questionnaire_of, WRITER_NAME))
    raise TypeError(f"no writer for {type(engine).__name__}")
