"""A questionnaire per agency and per service: one nullable column on each.

Frozen history, written by hand: the SQL is spelled out per engine, with the
column type Piccolo gives ``Varchar(length=64, null=True)``, so that later
changes to the application cannot change what this migration does. NULL means
"not assigned": a service without one uses its agency's, an agency without one
the default questionnaire.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Questionnaire assigned to an agency or a service"

SQLITE = (
    'ALTER TABLE "agency" ADD COLUMN "questionnaire_id" VARCHAR(64) DEFAULT null',
    'ALTER TABLE "service" ADD COLUMN "questionnaire_id" VARCHAR(64) DEFAULT null',
)
POSTGRES = (
    'ALTER TABLE "agency" ADD COLUMN IF NOT EXISTS "questionnaire_id" VARCHAR(64) NULL '
    "DEFAULT null",
    'ALTER TABLE "service" ADD COLUMN IF NOT EXISTS "questionnaire_id" VARCHAR(64) NULL '
    "DEFAULT null",
)


async def add_columns(engine) -> None:
    for statement in SQLITE if engine.engine_type == "sqlite" else POSTGRES:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def assign_questionnaires() -> None:
        await add_columns(engine_finder())

    manager.add_raw(assign_questionnaires)
    return manager
