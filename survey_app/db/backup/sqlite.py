"""SQLite: the online backup API, in steps, from one read snapshot held for the whole copy.

In WAL mode (the service's) a reader never blocks the writer, so the snapshot costs the
service nothing but a write-ahead log that cannot be checkpointed past it until the copy
ends. A copy that let go of its snapshot between steps would start again each time another
process committed, and might never finish under steady traffic.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from survey_app.db.backup.files import (
    BackupError,
    BackupResult,
    Progress,
    private_output,
    refuse_data,
)
from survey_app.db.engine import (
    SQLITE_BUSY_TIMEOUT_S,
    SQLITE_COMPANIONS,
    private_sqlite_files,
    sqlite_path,
)

# 1024 pages of 4 KiB: 4 MB a step, each a progress update.
STEP_PAGES = 1024


def uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def table_rows(connection: sqlite3.Connection, count: bool = True) -> dict[str, int]:
    """Rows per table; with ``count=False`` only 1 or 0 (cheap on a large database)."""
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    rows = {}
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        query = (
            f"SELECT count(*) FROM {quoted}" if count else f"SELECT EXISTS (SELECT 1 FROM {quoted})"
        )
        rows[name] = connection.execute(query).fetchone()[0]
    return rows


def copy(
    source: sqlite3.Connection, target: sqlite3.Connection, step_pages: int, progress: Progress
) -> None:
    def report(_status: int, remaining: int, total: int) -> None:
        progress(total - remaining, total)

    source.backup(target, pages=step_pages, progress=report)


def backup(url: str, out: Path, force: bool, progress: Progress, step_pages: int) -> BackupResult:
    database = sqlite_path(url)
    if not database.is_file():
        raise BackupError(f"no SQLite database at {database} (DATABASE_URL)")
    live_files = {
        database.resolve(),
        *(Path(f"{database.resolve()}{s}") for s in SQLITE_COMPANIONS),
    }
    if out.resolve() in live_files:
        # Renamed over the live file, the copy would take the place of the database the
        # service still writes through its open handle: those writes would be lost.
        raise BackupError(f"{out} is the database itself; write the backup elsewhere")
    with private_output(out, force) as temporary:
        try:
            # mode=rw: a mistyped DATABASE_URL must not create an empty database to back up.
            live = sqlite3.connect(
                uri(database, "rw"), uri=True, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_S
            )
            with closing(live), closing(sqlite3.connect(temporary, isolation_level=None)) as file:
                live.execute("BEGIN")
                live.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot
                copy(live, file, step_pages, progress)
                live.execute("COMMIT")
                # One self-contained file, with no write-ahead log beside it.
                file.execute("PRAGMA journal_mode = DELETE")
                rows = table_rows(file)
        except sqlite3.Error as error:
            raise BackupError(f"cannot back up {database}: {error}") from error
        size = temporary.stat().st_size
    return BackupResult(out, "sqlite", size, rows)


def restore(url: str, backup_file: Path, progress: Progress) -> BackupResult:
    target = sqlite_path(url)
    try:
        # immutable: a backup is never written to, and needs no lock or -shm file beside it.
        source = sqlite3.connect(uri(backup_file, "ro") + "&immutable=1", uri=True)
        with closing(source):
            if "migration" not in table_rows(source, count=False):
                raise BackupError(
                    f"{backup_file} is a SQLite database, but not one of this service "
                    "(it has no migration table). Nothing was changed."
                )
            if target.is_file() and target.stat().st_size:
                with closing(sqlite3.connect(uri(target, "rw"), uri=True)) as existing:
                    refuse_data(str(target), table_rows(existing, count=False))
            private_sqlite_files(target)  # the directory 0700 and the file 0600
            restored = sqlite3.connect(target, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_S)
            with closing(restored):
                copy(source, restored, STEP_PAGES, progress)
                # The service's mode; `survey serve` sets it again at every start.
                restored.execute("PRAGMA journal_mode = WAL")
                rows = table_rows(restored)
    except sqlite3.Error as error:
        raise BackupError(f"cannot restore {backup_file} into {target}: {error}") from error
    private_sqlite_files(target)  # the -wal and -shm files made meanwhile
    return BackupResult(backup_file, "sqlite", backup_file.stat().st_size, rows)
