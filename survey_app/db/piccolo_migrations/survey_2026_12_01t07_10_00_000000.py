"""Webhooks: endpoints, the outbox of events, a delivery per event and endpoint, attempts.

Frozen history, written by hand: the SQL is spelled out per engine, with the column
types Piccolo gives the tables in ``db.tables`` (on SQLite the declared types TIMESTAMPTZ,
BOOLEAN and JSON are what Piccolo's converters read back), so that later changes to the
application cannot change what this migration does. Beyond the tables: one event per
response and type, one delivery per event and endpoint (unique indexes), and an index of
the pending deliveries by due time, which the delivery loop polls.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T07:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Webhooks: endpoints, outbox events, deliveries and attempts"


def tables(serial: str) -> tuple[str, ...]:
    """The four tables; ``serial`` is each engine's auto-incrementing primary key."""
    cascade = "ON DELETE CASCADE ON UPDATE CASCADE"
    return (
        'CREATE TABLE IF NOT EXISTS "webhook_endpoint" ('
        f'"id" {serial}, '
        f'"agency" INTEGER NOT NULL REFERENCES "agency" ("id") {cascade} DEFAULT null, '
        "\"url\" VARCHAR(2000) NOT NULL DEFAULT '', "
        "\"events\" VARCHAR(255) NOT NULL DEFAULT '', "
        "\"secret\" VARCHAR(64) NOT NULL DEFAULT '', "
        '"enabled" BOOLEAN NOT NULL DEFAULT true, '
        '"include_comments" BOOLEAN NOT NULL DEFAULT false, '
        '"consecutive_failures" INTEGER NOT NULL DEFAULT 0, '
        '"disabled_at" TIMESTAMPTZ DEFAULT null, '
        "\"disabled_reason\" VARCHAR(255) NOT NULL DEFAULT '', "
        '"created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)',
        'CREATE INDEX IF NOT EXISTS webhook_endpoint_agency ON "webhook_endpoint" ("agency")',
        'CREATE TABLE IF NOT EXISTS "webhook_event" ('
        f'"id" {serial}, '
        "\"msg_id\" VARCHAR(40) UNIQUE NOT NULL DEFAULT '', "
        "\"type\" VARCHAR(40) NOT NULL DEFAULT '', "
        f'"agency" INTEGER NOT NULL REFERENCES "agency" ("id") {cascade} DEFAULT null, '
        f'"response" INTEGER NOT NULL REFERENCES "response" ("id") {cascade} DEFAULT null, '
        "\"payload\" JSON NOT NULL DEFAULT '{}', "
        '"created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)',
        'CREATE INDEX IF NOT EXISTS webhook_event_agency ON "webhook_event" ("agency")',
        'CREATE INDEX IF NOT EXISTS webhook_event_created_at ON "webhook_event" ("created_at")',
        "CREATE UNIQUE INDEX IF NOT EXISTS webhook_event_response_type "
        'ON "webhook_event" ("response", "type")',
        'CREATE TABLE IF NOT EXISTS "webhook_delivery" ('
        f'"id" {serial}, '
        f'"event" INTEGER NOT NULL REFERENCES "webhook_event" ("id") {cascade} DEFAULT null, '
        '"endpoint" INTEGER NOT NULL REFERENCES "webhook_endpoint" ("id") '
        f"{cascade} DEFAULT null, "
        "\"status\" VARCHAR(16) NOT NULL DEFAULT 'pending', "
        '"attempts" INTEGER NOT NULL DEFAULT 0, '
        '"next_attempt_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, '
        '"delivered_at" TIMESTAMPTZ DEFAULT null, '
        '"last_status" INTEGER DEFAULT null, '
        "\"last_error\" VARCHAR(255) NOT NULL DEFAULT '')",
        "CREATE INDEX IF NOT EXISTS webhook_delivery_endpoint "
        'ON "webhook_delivery" ("endpoint")',
        "CREATE UNIQUE INDEX IF NOT EXISTS webhook_delivery_event_endpoint "
        'ON "webhook_delivery" ("event", "endpoint")',
        "CREATE INDEX IF NOT EXISTS webhook_delivery_due "
        "ON \"webhook_delivery\" (\"next_attempt_at\") WHERE \"status\" = 'pending'",
        'CREATE TABLE IF NOT EXISTS "webhook_attempt" ('
        f'"id" {serial}, '
        '"delivery" INTEGER NOT NULL REFERENCES "webhook_delivery" ("id") '
        f"{cascade} DEFAULT null, "
        '"endpoint" INTEGER NOT NULL REFERENCES "webhook_endpoint" ("id") '
        f"{cascade} DEFAULT null, "
        '"attempted_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, '
        '"status_code" INTEGER DEFAULT null, '
        "\"error\" VARCHAR(255) NOT NULL DEFAULT '', "
        '"duration_ms" INTEGER NOT NULL DEFAULT 0, '
        '"retry_at" TIMESTAMPTZ DEFAULT null)',
        "CREATE INDEX IF NOT EXISTS webhook_attempt_delivery "
        'ON "webhook_attempt" ("delivery")',
        "CREATE INDEX IF NOT EXISTS webhook_attempt_endpoint "
        'ON "webhook_attempt" ("endpoint")',
        "CREATE INDEX IF NOT EXISTS webhook_attempt_attempted_at "
        'ON "webhook_attempt" ("attempted_at")',
    )


SQLITE = tables("INTEGER PRIMARY KEY NOT NULL")
POSTGRES = tables("SERIAL PRIMARY KEY NOT NULL")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def create_webhook_tables() -> None:
        engine = engine_finder()
        for statement in SQLITE if engine.engine_type == "sqlite" else POSTGRES:
            await engine.run_ddl(statement)

    manager.add_raw(create_webhook_tables)
    return manager
