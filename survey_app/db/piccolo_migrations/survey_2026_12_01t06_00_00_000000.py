"""The statistics data version: a one-row ``stats_version`` table, and triggers that bump it
whenever responses or invitations are deleted, and agencies or services change.

Cached statistics are keyed by the data they were computed on. New responses and
invitations show in their largest ids; a deletion (a purge, a wipe) can leave those the
same, and a service marked essential changes what ``essential=true`` counts, so the
triggers count those here, once per statement on PostgreSQL and per row on SQLite (which
has no statement triggers; such changes are rare). ``survey rollup rebuild`` bumps the
row itself.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "A statistics data version, bumped by deletions and directory changes"
# (table, the changes that bump the version)
WATCHED = (
    ("response", "DELETE"),
    ("invitation", "DELETE"),
    ("agency", "UPDATE"),
    ("agency", "DELETE"),
    ("service", "UPDATE"),
    ("service", "DELETE"),
)

SQLITE = (
    'CREATE TABLE IF NOT EXISTS "stats_version" '
    '("id" INTEGER PRIMARY KEY NOT NULL, "version" INTEGER NOT NULL DEFAULT 0)',
    'INSERT OR IGNORE INTO "stats_version" ("id", "version") VALUES (1, 0)',
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_{change.lower()}_stats_version "
        f"AFTER {change} ON {table} "
        'BEGIN UPDATE "stats_version" SET "version" = "version" + 1 WHERE "id" = 1; END'
        for table, change in WATCHED
    ),
)

POSTGRES = (
    'CREATE TABLE IF NOT EXISTS "stats_version" '
    '("id" SERIAL PRIMARY KEY, "version" BIGINT NOT NULL DEFAULT 0)',
    'INSERT INTO "stats_version" ("id", "version") VALUES (1, 0) ON CONFLICT DO NOTHING',
    "CREATE OR REPLACE FUNCTION bump_stats_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
    'BEGIN UPDATE "stats_version" SET "version" = "version" + 1 WHERE "id" = 1; '
    "RETURN NULL; END $$",
    *(
        f"CREATE OR REPLACE TRIGGER {table}_truncate_stats_version AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_stats_version()"
        for table in ("response", "invitation")
    ),
    *(
        f"CREATE OR REPLACE TRIGGER {table}_{change.lower()}_stats_version "
        f"AFTER {change} ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_stats_version()"
        for table, change in WATCHED
    ),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def version_table() -> None:
        engine = engine_finder()
        for statement in SQLITE if engine.engine_type == "sqlite" else POSTGRES:
            await engine.run_ddl(statement)

    manager.add_raw(version_table)
    return manager
