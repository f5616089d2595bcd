"""Cells per question and value, rating patterns, invitation cells, and every cell
counted in local days.

Creates ``answer_cell``, ``monthly_answer``, ``daily_answer``, ``rating_pattern``,
``invitation_cell`` and ``monthly_invitation`` with their unique keys. The
recount of every cell in the days of ``SURVEY_TIMEZONE`` (the earlier cells
were counted in UTC days) is the next migration's (2026-12-01), which every
upgrade runs after this one: the application's ``cells.rebuild`` counts the
cells the application has now, and ``rating_pattern`` is not one of them.

The tables are spelled out per engine, with the column types Piccolo gives
them, so later changes to the application cannot change them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Answer, pattern and invitation cells; every cell counted in local days"


def _table(
    sqlite: bool, name: str, first: str, columns: tuple[str, ...], count: str = "responses"
) -> str:
    ident = '"id" INTEGER PRIMARY KEY NOT NULL' if sqlite else '"id" SERIAL PRIMARY KEY'
    date = f'"{first}" DATE NOT NULL DEFAULT CURRENT_DATE'

    def key(table: str, column: str) -> str:
        return (
            f'"{column}" INTEGER NOT NULL REFERENCES "{table}" ("id") '
            "ON DELETE RESTRICT ON UPDATE CASCADE"
        )

    return (
        f'CREATE TABLE IF NOT EXISTS "{name}" ({ident}, {date}, '
        f"{key('agency', 'agency')}, {key('service', 'service')}, "
        + ", ".join(columns)
        + f', "{count}" INTEGER NOT NULL DEFAULT 0)'
    )


CHANNEL = "\"channel\" VARCHAR(16) NOT NULL DEFAULT ''"
LOCALE = "\"locale\" VARCHAR(8) NOT NULL DEFAULT ''"
QUESTIONNAIRE = "\"questionnaire_id\" VARCHAR(64) NOT NULL DEFAULT ''"
QUESTION = "\"question\" VARCHAR(64) NOT NULL DEFAULT ''"
VALUE = "\"value\" VARCHAR(64) NOT NULL DEFAULT ''"
PATTERN = "\"pattern\" VARCHAR(1000) NOT NULL DEFAULT ''"

INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS answer_cell_key ON answer_cell "
    "(day, agency, service, channel, locale, questionnaire_id, question, value)",
    # A named questionnaire's question, over a range of days, without scanning the rest.
    "CREATE INDEX IF NOT EXISTS answer_cell_question ON answer_cell "
    "(questionnaire_id, question, day)",
    "CREATE UNIQUE INDEX IF NOT EXISTS monthly_answer_key ON monthly_answer "
    "(month, agency, service, channel, questionnaire_id, question, value)",
    "CREATE INDEX IF NOT EXISTS monthly_answer_question ON monthly_answer "
    "(questionnaire_id, question, month)",
    "CREATE UNIQUE INDEX IF NOT EXISTS daily_answer_key ON daily_answer "
    "(day, agency, service, questionnaire_id, question, value)",
    # One question over a range of days, with or without a questionnaire.
    "CREATE INDEX IF NOT EXISTS daily_answer_question ON daily_answer (question, day)",
    "CREATE UNIQUE INDEX IF NOT EXISTS rating_pattern_key ON rating_pattern "
    "(month, agency, service, channel, questionnaire_id, pattern)",
    "CREATE UNIQUE INDEX IF NOT EXISTS invitation_cell_key ON invitation_cell "
    "(day, agency, service, channel, questionnaire_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS monthly_invitation_key ON monthly_invitation "
    "(month, agency, service, channel, questionnaire_id)",
)


async def create(engine) -> None:
    sqlite = engine.engine_type == "sqlite"
    for statement in (
        _table(sqlite, "answer_cell", "day", (CHANNEL, LOCALE, QUESTIONNAIRE, QUESTION, VALUE)),
        _table(sqlite, "monthly_answer", "month", (CHANNEL, QUESTIONNAIRE, QUESTION, VALUE)),
        _table(sqlite, "daily_answer", "day", (QUESTIONNAIRE, QUESTION, VALUE)),
        _table(sqlite, "rating_pattern", "month", (CHANNEL, QUESTIONNAIRE, PATTERN)),
        _table(sqlite, "invitation_cell", "day", (CHANNEL, QUESTIONNAIRE), "invitations"),
        _table(sqlite, "monthly_invitation", "month", (CHANNEL, QUESTIONNAIRE), "invitations"),
        *INDEXES,
    ):
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def answer_cells() -> None:
        await create(engine_finder())

    manager.add_raw(answer_cells)
    return manager
