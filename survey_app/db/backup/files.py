"""What backups of either engine share: the result, the kinds of file, the private output
file, and the refusal to restore over data."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from survey_app.db.engine import SQLITE_COMPANIONS
from survey_app.lib.settings import PRIVATE_FILE_MODE

SQLITE_HEADER = b"SQLite format 3\x00"
PGDUMP_HEADER = b"PGDMP"  # pg_dump's custom format (-Fc)
ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Tables the migrations fill themselves: a database with rows only there is empty.
BOOKKEEPING_TABLES = frozenset({"migration", "stats_version"})
# Tables named in the summary, in this order, when present.
HEADLINE_TABLES = {"response": "responses", "invitation": "invitations", "comment": "comments"}

# Called with (done, total): pages for SQLite, tables for PostgreSQL.
Progress = Callable[[int, int], None]


class BackupError(Exception):
    """A backup or restore refused or failed; the message is for the operator."""


@dataclass(frozen=True)
class BackupResult:
    """What a backup wrote or a restore loaded.

    Attributes
    ----------
    path:
        The backup file.
    engine:
        ``sqlite`` or ``postgresql``.
    size:
        The backup file's size in bytes.
    rows:
        Rows per table, counted in the snapshot the file holds (the restored database's,
        after a restore).
    """

    path: Path
    engine: str
    size: int
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        kind = "SQLite database" if self.engine == "sqlite" else "pg_dump custom format"
        headline = ", ".join(
            f"{self.rows[name]:,} {label}"
            for name, label in HEADLINE_TABLES.items()
            if name in self.rows
        )
        return (
            f"{self.path} ({kind}, {human_size(self.size)}): {len(self.rows)} tables, "
            f"{sum(self.rows.values()):,} rows" + (f"; {headline}" if headline else "")
        )

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "engine": self.engine, "size": self.size, "rows": self.rows}


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    return f"{value:,.1f} {unit}"


def engine_of(url: str) -> str:
    """``sqlite`` or ``postgresql``, from a ``DATABASE_URL``."""
    scheme = url.partition(":")[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise BackupError(f"backups support SQLite and PostgreSQL databases, not {scheme!r}")


def file_kind(path: Path) -> str:
    """What a backup file holds, told by its first bytes: ``sqlite`` or ``postgresql``."""
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head.startswith(SQLITE_HEADER):
        return "sqlite"
    if head.startswith(PGDUMP_HEADER):
        return "postgresql"
    raise BackupError(
        f"{path} is not a backup made by `survey backup`: it is neither a SQLite database "
        "nor a pg_dump custom-format archive. Nothing was changed."
    )


def refuse_other_engine(path: Path, kind: str, engine: str) -> None:
    if kind != engine:
        described = "a SQLite database" if kind == "sqlite" else "a PostgreSQL dump (pg_dump -Fc)"
        raise BackupError(
            f"{path} is {described}, but DATABASE_URL names a {ENGINES[engine]} database: "
            f"restore it into a {ENGINES[kind]} database (a backup does not cross engines). "
            "Nothing was changed."
        )


def refuse_data(target: str, rows: dict[str, int]) -> None:
    """Refuse a target that holds rows anywhere but in the migrations' own tables."""
    full = sorted(name for name, n in rows.items() if n and name not in BOOKKEEPING_TABLES)
    if full:
        shown = ", ".join(full[:5]) + (", ..." if len(full) > 5 else "")
        raise BackupError(
            f"the target database {target} already holds data (in {shown}); restore only "
            "into a new, empty database. Nothing was changed."
        )


@contextmanager
def private_output(out: Path, force: bool) -> Iterator[Path]:
    """A temporary file beside ``out``, mode 0600 from its creation; on success it becomes
    ``out``, replacing an existing file only with ``force``. Removed on failure."""
    refuse_existing(out, force)
    temporary = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileNotFoundError as error:
        raise BackupError(f"cannot write {out}: directory {out.parent} does not exist") from error
    except OSError as error:
        raise BackupError(f"cannot write {out}: {error.strerror}") from error
    os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
    os.close(fd)
    try:
        yield temporary
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        publish(temporary, out, force)
    finally:
        for leftover in (temporary, *(Path(f"{temporary}{s}") for s in SQLITE_COMPANIONS)):
            leftover.unlink(missing_ok=True)


def refuse_existing(out: Path, force: bool) -> None:
    if out.is_dir():
        raise BackupError(f"{out} is a directory; give the backup file's name")
    if out.exists() and not force:
        raise BackupError(f"{out} already exists; use --force to replace it")


def publish(temporary: Path, out: Path, force: bool) -> None:
    """Move the finished file into place atomically; without ``force`` never over a file that
    appeared meanwhile (a hard link fails when its name exists, where a rename replaces)."""
    if force:
        os.replace(temporary, out)
    else:
        try:
            os.link(temporary, out)
        except FileExistsError as error:
            raise BackupError(f"{out} already exists; use --force to replace it") from error
        except OSError:  # a file system without hard links
            refuse_existing(out, force)
            os.replace(temporary, out)
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
