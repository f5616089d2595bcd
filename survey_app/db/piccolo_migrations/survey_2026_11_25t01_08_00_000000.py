"""Index the statistics cells and fill them from the responses already stored.

Frozen history: the SQL is written out here, as it was when this migration
was made, so that later changes to the application cannot change what it
does. ``fill`` takes the engine so a test can compare it with ``survey rollup
rebuild``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T01:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index the statistics cells and fill them from the responses already stored"

INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS response_cell_key "
    "ON response_cell (day, agency, service, channel, locale, rating, reasons)",
    "CREATE INDEX IF NOT EXISTS response_cell_agency ON response_cell (agency, day)",
    "CREATE UNIQUE INDEX IF NOT EXISTS monthly_rating_key "
    "ON monthly_rating (month, agency, service, rating)",
    "CREATE UNIQUE INDEX IF NOT EXISTS monthly_reason_key "
    "ON monthly_reason (month, agency, service, reason)",
)
# Per engine: the UTC day of a response, its reason codes sorted and joined by commas,
# the first day of a cell's month, and each reason code of a cell ('' for "any reason").
SQLITE = {
    "day": "date(r.submitted_at)",
    "reasons": "COALESCE((SELECT group_concat(reason, ',') FROM (SELECT reason FROM "
    "response_reason WHERE response = r.id ORDER BY reason)), '')",
    "month": "date(c.day, 'start of month')",
    "each_reason": "json_each('[\"' || replace(c.reasons, ',', '\",\"') || '\",\"\"]') AS e",
    "reason": "e.value",
}
POSTGRES = {
    "day": "(r.submitted_at AT TIME ZONE 'UTC')::date",
    "reasons": "COALESCE((SELECT string_agg(reason, ',' ORDER BY reason COLLATE \"C\") "
    "FROM response_reason WHERE response = r.id), '')",
    "month": "date_trunc('month', c.day)::date",
    "each_reason": "unnest(string_to_array(c.reasons, ',') || ''::text) AS e(reason)",
    "reason": "e.reason",
}


async def fill(engine) -> None:
    sql = SQLITE if engine.engine_type == "sqlite" else POSTGRES
    dims = "day, agency, service, channel, locale, rating, reasons"
    await engine.run_ddl(
        f"INSERT INTO response_cell ({dims}, responses) "
        f"SELECT {dims}, COUNT(*) FROM (SELECT {sql['day']} AS day, r.agency AS agency, "
        "r.service AS service, r.channel AS channel, r.locale AS locale, "
        f"r.overall AS rating, {sql['reasons']} AS reasons FROM response r "
        f"WHERE r.overall IS NOT NULL) AS rated GROUP BY {dims}"
    )
    await engine.run_ddl(
        "INSERT INTO monthly_rating (month, agency, service, rating, responses) "
        f"SELECT {sql['month']}, c.agency, c.service, c.rating, SUM(c.responses) "
        f"FROM response_cell c GROUP BY {sql['month']}, c.agency, c.service, c.rating"
    )
    await engine.run_ddl(
        "INSERT INTO monthly_reason (month, agency, service, reason, responses) "
        f"SELECT {sql['month']}, c.agency, c.service, {sql['reason']}, SUM(c.responses) "
        f"FROM response_cell c, {sql['each_reason']} WHERE c.reasons <> '' "
        f"GROUP BY {sql['month']}, c.agency, c.service, {sql['reason']}"
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def index_and_fill() -> None:
        engine = engine_finder()
        for statement in INDEXES:
            await engine.run_ddl(statement)
        await fill(engine)

    manager.add_raw(index_and_fill)
    return manager
