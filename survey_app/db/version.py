"""The statistics data version: what changes whenever a statistic may change.

One small query (``DATA_VERSION``): the largest response and invitation ids, how many of
the last ``LATE_WINDOW`` ids are committed (on PostgreSQL a transaction can commit after
one that took a larger id), and the ``stats_version`` row, which deletions of responses or
invitations (triggers, see the migration that made it) and ``survey rollup rebuild``
(``BUMP_VERSION``) move. Whichever process writes, a server worker or a CLI command, one
of them changes.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine

LATE_WINDOW = 10_000
BUMP_VERSION = 'UPDATE "stats_version" SET "version" = "version" + 1 WHERE "id" = 1'
DATA_VERSION = (
    'SELECT (SELECT "version" FROM "stats_version" WHERE "id" = 1) AS stats, '
    + ", ".join(
        f"(SELECT max(id) FROM {table}) AS {table}_last, "
        f"(SELECT count(*) FROM {table} WHERE id > "
        f"(SELECT coalesce(max(id), 0) - {LATE_WINDOW} FROM {table})) AS {table}_recent"
        for table in ("response", "invitation")
    )
)


async def bump(engine: Engine, sqlite: bool) -> None:
    """Move the version (in the caller's transaction), once its table exists: a migration
    older than the table recounts the cells through the same code."""
    present = (
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'stats_version'"
        if sqlite
        else "SELECT count(*) AS n FROM pg_class WHERE oid = to_regclass('stats_version')"
    )
    rows = await engine.run_ddl(present)
    if rows and dict(rows[0])["n"]:
        await engine.run_ddl(BUMP_VERSION)


async def data_version(engine: Engine) -> tuple[Any, ...]:
    rows = await engine.run_ddl(DATA_VERSION)
    return tuple(dict(rows[0]).values()) if rows else ()
