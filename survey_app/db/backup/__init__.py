"""Backups of the database ``DATABASE_URL`` names, taken while the service writes, and their
restore into a new, empty database of the same engine.

A backup is one consistent snapshot: every write acknowledged before it began is in it,
with the statistics cells of the same transactions. The migrations table travels with the
data, so ``survey migrate`` afterwards applies only migrations newer than the backup. The
file is the owner's alone (0600): it holds hashed transaction references and comments.
"""

from __future__ import annotations

from pathlib import Path

from survey_app.db.backup import postgres, sqlite
from survey_app.db.backup.files import (
    BackupError,
    BackupResult,
    Progress,
    engine_of,
    file_kind,
    refuse_other_engine,
)

__all__ = ["BackupError", "BackupResult", "backup", "restore"]


def backup(
    url: str, out: Path, force: bool, progress: Progress, step_pages: int = sqlite.STEP_PAGES
) -> BackupResult:
    """Write a backup of the database at ``url`` to ``out`` (``step_pages``: SQLite only)."""
    if engine_of(url) == "sqlite":
        return sqlite.backup(url, out, force, progress, step_pages)
    return postgres.backup(url, out, force, progress)


def restore(url: str, backup_file: Path, progress: Progress) -> BackupResult:
    """Load ``backup_file`` into the empty database at ``url``; refuse one holding data."""
    engine = engine_of(url)
    kind = file_kind(backup_file)
    refuse_other_engine(backup_file, kind, engine)
    if engine == "sqlite":
        return sqlite.restore(url, backup_file, progress)
    return postgres.restore(url, backup_file, progress)
