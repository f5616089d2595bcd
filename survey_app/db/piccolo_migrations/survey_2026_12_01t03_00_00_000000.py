"""Key-driver moments instead of rating patterns, national daily answers, and every
cell recounted in local days.

Creates ``driver_moment`` (per month, cell and questionnaire version's rating
questions, the 78 cross-product sums ``s0`` to ``s77``: one row per cell, where
``rating_pattern`` grew by about one row per response), drops
``rating_pattern``, creates ``national_answer`` (answers per local day,
questionnaire, question and value, for national daily series), then recounts
every statistics cell from the responses and invitations in the days of
``SURVEY_TIMEZONE``.

The table is spelled out per engine, with the column types Piccolo gives it,
so later changes to the application cannot change it. The recount is the
application's own ``cells.rebuild``, on purpose: it must count exactly as the
submission writer does, and local days need the zone database, which SQLite's
SQL does not have. A later change to the cells that needs a recount comes with
a migration of its own.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "Key-driver moments replace rating patterns; national daily answers; every cell recounted"
)
SUMS = 78  # every pair of the constant, overall and up to 10 criteria


def _table(sqlite: bool) -> str:
    ident = '"id" INTEGER PRIMARY KEY NOT NULL' if sqlite else '"id" SERIAL PRIMARY KEY'

    def key(table: str) -> str:
        return (
            f'"{table}" INTEGER NOT NULL REFERENCES "{table}" ("id") '
            "ON DELETE RESTRICT ON UPDATE CASCADE"
        )

    return (
        f'CREATE TABLE IF NOT EXISTS "driver_moment" ({ident}, '
        '"month" DATE NOT NULL DEFAULT CURRENT_DATE, '
        f"{key('agency')}, {key('service')}, "
        "\"channel\" VARCHAR(16) NOT NULL DEFAULT '', "
        "\"questionnaire_id\" VARCHAR(64) NOT NULL DEFAULT '', "
        "\"variables\" VARCHAR(1000) NOT NULL DEFAULT '', "
        + ", ".join(f'"s{i}" BIGINT NOT NULL DEFAULT 0' for i in range(SUMS))
        + ")"
    )


NATIONAL = (
    'CREATE TABLE IF NOT EXISTS "national_answer" ({ident}, '
    '"day" DATE NOT NULL DEFAULT CURRENT_DATE, '
    "\"questionnaire_id\" VARCHAR(64) NOT NULL DEFAULT '', "
    "\"question\" VARCHAR(64) NOT NULL DEFAULT '', "
    "\"value\" VARCHAR(64) NOT NULL DEFAULT '', "
    '"responses" INTEGER NOT NULL DEFAULT 0)'
)

STATEMENTS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS driver_moment_key ON driver_moment "
    "(month, agency, service, channel, questionnaire_id, variables)",
    # One questionnaire's moments over a range of months, without scanning the others.
    "CREATE INDEX IF NOT EXISTS driver_moment_questionnaire ON driver_moment "
    "(questionnaire_id, month)",
    "DROP TABLE IF EXISTS rating_pattern",
    "CREATE UNIQUE INDEX IF NOT EXISTS national_answer_key ON national_answer "
    "(day, questionnaire_id, question, value)",
    "CREATE INDEX IF NOT EXISTS national_answer_question ON national_answer (question, day)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def moments_and_recount() -> None:
        from survey_app.db import cells

        engine = engine_finder()
        sqlite = engine.engine_type == "sqlite"
        await engine.run_ddl(_table(sqlite))
        ident = '"id" INTEGER PRIMARY KEY NOT NULL' if sqlite else '"id" SERIAL PRIMARY KEY'
        await engine.run_ddl(NATIONAL.format(ident=ident))
        for statement in STATEMENTS:
            await engine.run_ddl(statement)
        await cells.rebuild(engine)

    manager.add_raw(moments_and_recount)
    return manager
