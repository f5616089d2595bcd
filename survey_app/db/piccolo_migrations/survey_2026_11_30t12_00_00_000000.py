"""The audit log of reads of comments and microdata: one table, indexed by time.

Frozen history, written by hand: the SQL is spelled out per engine, with the
column types Piccolo gives ``AuditEntry`` (on SQLite the declared types
TIMESTAMPTZ and JSON are what Piccolo's converters read back), so that later
changes to the application cannot change what this migration does.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Audit log: who read comments and microdata, when, with which filters"

SQLITE = (
    'CREATE TABLE IF NOT EXISTS "audit_entry" ('
    '"id" INTEGER PRIMARY KEY NOT NULL, '
    '"read_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, '
    "\"actor\" VARCHAR(8) NOT NULL DEFAULT '', "
    '"user_id" INTEGER DEFAULT null, '
    '"username" VARCHAR(100) DEFAULT null, '
    '"key_id" INTEGER DEFAULT null, '
    "\"role\" VARCHAR(16) NOT NULL DEFAULT '', "
    '"agency_code" VARCHAR(32) DEFAULT null, '
    "\"route\" VARCHAR(255) NOT NULL DEFAULT '', "
    "\"format\" VARCHAR(8) NOT NULL DEFAULT '', "
    "\"filters\" JSON NOT NULL DEFAULT '{}', "
    '"row_count" INTEGER DEFAULT null)',
    'CREATE INDEX IF NOT EXISTS audit_entry_read_at ON "audit_entry" ("read_at")',
)
POSTGRES = (
    'CREATE TABLE IF NOT EXISTS "audit_entry" ('
    '"id" SERIAL PRIMARY KEY, '
    '"read_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP, '
    "\"actor\" VARCHAR(8) NOT NULL DEFAULT '', "
    '"user_id" INTEGER NULL DEFAULT null, '
    '"username" VARCHAR(100) NULL DEFAULT null, '
    '"key_id" INTEGER NULL DEFAULT null, '
    "\"role\" VARCHAR(16) NOT NULL DEFAULT '', "
    '"agency_code" VARCHAR(32) NULL DEFAULT null, '
    "\"route\" VARCHAR(255) NOT NULL DEFAULT '', "
    "\"format\" VARCHAR(8) NOT NULL DEFAULT '', "
    "\"filters\" JSON NOT NULL DEFAULT '{}', "
    '"row_count" INTEGER NULL DEFAULT null)',
    'CREATE INDEX IF NOT EXISTS audit_entry_read_at ON "audit_entry" ("read_at")',
)


async def create(engine) -> None:
    for statement in SQLITE if engine.engine_type == "sqlite" else POSTGRES:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def create_audit_table() -> None:
        await create(engine_finder())

    manager.add_raw(create_audit_table)
    return manager
