"""Webhook signing secrets are stored sealed (``webhooks.signing.Sealer``): about 170
characters where a plain ``whsec_`` secret took 50, so the column widens to 255.

Frozen history, written by hand. SQLite does not enforce a VARCHAR's length, so only
PostgreSQL has anything to change.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T14:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Room for sealed webhook signing secrets"

POSTGRES = 'ALTER TABLE "webhook_endpoint" ALTER COLUMN "secret" TYPE VARCHAR(255)'


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def widen_secret() -> None:
        engine = engine_finder()
        if engine.engine_type == "postgres":
            await engine.run_ddl(POSTGRES)

    manager.add_raw(widen_secret)
    return manager
