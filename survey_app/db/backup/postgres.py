"""PostgreSQL: ``pg_dump --format=custom`` on a snapshot exported by a connection that counts
the rows in that same snapshot (so the counts printed are the file's), and ``pg_restore``
into the empty database in one transaction.

The programs come from PATH, else from ``pg_config --bindir``, else from the newest of
Debian's versioned directories (``/usr/lib/postgresql/NN/bin``). The password travels in
their environment (``PGPASSWORD``), never on a command line, where ``ps`` would show it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import asyncpg

from survey_app.db.backup.files import (
    BackupError,
    BackupResult,
    Progress,
    private_output,
    refuse_data,
)
from survey_app.db.engine import describe

DEBIAN_VERSIONS = Path("/usr/lib/postgresql")
TABLES = (
    "SELECT n.nspname AS schema, c.relname AS name FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
)
# What --verbose prints as each table's rows are dumped or restored: the progress.
DUMPING = "dumping contents of table"
RESTORING = "processing data for table"
# pg_restore --list: one line per table's rows, "... TABLE DATA schema name owner".
TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ", re.MULTILINE)
# The lines of --verbose output worth showing when a program fails.
PROBLEM = re.compile(r": (error|warning|detail|hint): |^Command was: ")


def postgres_program(name: str) -> Path | None:
    """``pg_dump``, ``pg_restore``, ``initdb``...: the first found, or None."""
    found = shutil.which(name)
    if found:
        return Path(found)
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run(  # noqa: S603 (a program found on PATH, no user input)
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        candidate = Path(done.stdout.strip()) / name
        if done.returncode == 0 and candidate.is_file():
            return candidate

    def major(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parents[1].name))

    versions = sorted(DEBIAN_VERSIONS.glob(f"*/bin/{name}"), key=major)
    return versions[-1] if versions else None


def require(name: str) -> Path:
    program = postgres_program(name)
    if program is None:
        raise BackupError(
            f"{name} not found on PATH nor in {DEBIAN_VERSIONS}/*/bin: install the PostgreSQL "
            "client programs, of the server's major version or newer "
            "(Debian and Ubuntu: apt install postgresql-client)"
        )
    return program


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, for a command line, and the environment carrying it."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_query = [value for key, value in query if key == "password"]
    secret = unquote(password) if password else (in_query[-1] if in_query else "")
    netloc = f"{user}@{hosts}" if at and user else hosts
    kept = urlencode([(key, value) for key, value in query if key != "password"])
    dsn = f"postgresql://{netloc}{parts.path}" + (f"?{kept}" if kept else "")
    return dsn, ({"PGPASSWORD": secret} if secret else {})


def program_environment(url: str) -> tuple[str, dict[str, str]]:
    dsn, secret = libpq_target(url)
    env = {**os.environ, **secret}
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return dsn, env


async def connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        raise BackupError(f"cannot connect to {describe(url)}: {error}") from error


async def table_rows(connection: asyncpg.Connection, count: bool = True) -> dict[str, int]:
    """Rows per table; with ``count=False`` only 1 or 0 (cheap on a large database)."""
    rows = {}
    for table in await connection.fetch(TABLES):
        schema, name = table["schema"], table["name"]
        quoted = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))
        query = (
            f"SELECT count(*) FROM {quoted}"
            if count
            else f"SELECT EXISTS (SELECT 1 FROM {quoted})::int"
        )
        rows[name if schema == "public" else f"{schema}.{name}"] = await connection.fetchval(query)
    return rows


async def run(
    program: Path, args: Sequence[str], env: dict[str, str], marker: str, total: int,
    progress: Progress,
) -> None:  # fmt: skip
    """Run ``program``, counting ``marker`` lines of its --verbose output as progress."""
    process = await asyncio.create_subprocess_exec(
        program, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=env, limit=1 << 20,
    )  # fmt: skip
    assert process.stderr is not None
    done, lines = 0, []
    progress(0, total)
    async for raw in process.stderr:
        line = raw.decode(errors="replace").rstrip()
        if marker in line:
            done += 1
            progress(min(done, total), total)
        else:
            lines.append(line)
    code = await process.wait()
    if code:
        problems = [line for line in lines if PROBLEM.search(line)] or lines[-10:]
        message = "\n".join(problems[-20:])
        if "server version mismatch" in message:
            message += f"\nUse a {program.name} of the server's major version or newer."
        raise BackupError(f"{program.name} failed (exit status {code}):\n{message}")


def backup(url: str, out: Path, force: bool, progress: Progress) -> BackupResult:
    pg_dump = require("pg_dump")
    dsn, env = program_environment(url)
    with private_output(out, force) as temporary:
        rows = asyncio.run(dump(url, pg_dump, dsn, env, temporary, progress))
        size = temporary.stat().st_size
    return BackupResult(out, "postgresql", size, rows)


async def dump(
    url: str, pg_dump: Path, dsn: str, env: dict[str, str], file: Path, progress: Progress
) -> dict[str, int]:
    connection = await connect(url)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
            rows = await table_rows(connection)
            # The snapshot lives as long as this transaction: until pg_dump is done.
            args = ["--format=custom", "--verbose", f"--snapshot={snapshot}", f"--file={file}",
                    f"--dbname={dsn}"]  # fmt: skip
            await run(pg_dump, args, env, DUMPING, len(rows), progress)
    finally:
        await connection.close()
    return rows


def restore(url: str, backup_file: Path, progress: Progress) -> BackupResult:
    pg_restore = require("pg_restore")
    dsn, env = program_environment(url)
    listing = subprocess.run(  # noqa: S603 (our program, the operator's file)
        [pg_restore, "--list", str(backup_file)], capture_output=True, text=True, check=False,
        env=env, timeout=600,
    )  # fmt: skip
    if listing.returncode:
        raise BackupError(f"{backup_file} is not a readable pg_dump archive: {listing.stderr}")
    tables = TABLE_DATA.findall(listing.stdout)
    if ("public", "migration") not in tables:
        raise BackupError(
            f"{backup_file} is a pg_dump archive, but not of this service's database "
            "(it has no migration table). Nothing was changed."
        )
    rows = asyncio.run(load(url, pg_restore, dsn, env, backup_file, len(tables), progress))
    return BackupResult(backup_file, "postgresql", backup_file.stat().st_size, rows)


async def load(
    url: str, pg_restore: Path, dsn: str, env: dict[str, str], file: Path, tables: int,
    progress: Progress,
) -> dict[str, int]:  # fmt: skip
    connection = await connect(url)
    try:
        existing = await table_rows(connection, count=False)
    finally:
        await connection.close()
    refuse_data(describe(url), existing)
    args = ["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--verbose",
            f"--dbname={dsn}"]  # fmt: skip
    if existing:
        # Tables without data, made by `survey migrate`: replaced, in the same transaction.
        args += ["--clean", "--if-exists"]
    try:
        await run(pg_restore, [*args, str(file)], env, RESTORING, tables, progress)
    except BackupError as error:
        raise BackupError(f"{error}\nIt ran in one transaction: nothing was restored.") from error
    connection = await connect(url)
    try:
        await connection.execute("ANALYZE")  # pg_restore leaves the planner no statistics
        return await table_rows(connection)
    finally:
        await connection.close()
