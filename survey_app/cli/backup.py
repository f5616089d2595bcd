"""``survey backup --out FILE`` and ``survey restore FILE``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from survey_app.db.backup import BackupError, Progress
from survey_app.db.backup import backup as take_backup
from survey_app.db.backup import restore as load_backup
from survey_app.db.backup.sqlite import STEP_PAGES
from survey_app.db.engine import UNAVAILABLE, describe
from survey_app.lib.settings import database_url_from_env


@contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    """A progress bar on stderr, made at the first report (when the total is known)."""
    bars: list = []

    def report(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=max(total, 1), label=label, file=sys.stderr))
            bars[0].__enter__()
        bar = bars[0]
        bar.length = max(total, 1)  # a SQLite database can grow while it is copied
        bar.update(done - bar.pos)

    try:
        yield report
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


@click.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (readable by its owner only).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
# Pages a SQLite step copies; smaller in tests, so that commits fall between steps.
@click.option("--step-pages", type=click.IntRange(1), default=STEP_PAGES, hidden=True)
def backup(out: Path, force: bool, step_pages: int) -> None:
    """Copy the database DATABASE_URL names into FILE while the service keeps running.

    The copy is one consistent snapshot: every answer acknowledged before it began is in
    it. SQLite: the online backup API, into a SQLite file. PostgreSQL: pg_dump's custom
    format (pg_dump from PATH or /usr/lib/postgresql/NN/bin; the password goes to it in
    its environment). Restore it with `survey restore FILE`.
    """
    url = database_url_from_env()
    click.echo(f"Backing up {describe(url)}", err=True)
    try:
        with progress_bar("Copying") as report:
            result = take_backup(url, out.absolute(), force, report, step_pages)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    except UNAVAILABLE as error:
        raise click.ClickException(f"cannot back up {describe(url)}: {error}") from error
    click.echo(f"Wrote {result.summary()}; mode 0600.")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(file: Path) -> None:
    """Load a backup made by `survey backup` into the new, empty database DATABASE_URL names.

    Refuses, changing nothing, when that database already holds data, or when FILE was
    taken from the other engine. SQLite: a missing database file is created. PostgreSQL:
    create the database first (CREATE DATABASE); pg_restore loads it in one transaction.
    Afterwards `survey migrate` applies only migrations newer than the backup.
    """
    url = database_url_from_env()
    click.echo(f"Restoring {file} into {describe(url)}", err=True)
    try:
        with progress_bar("Restoring") as report:
            result = load_backup(url, file.absolute(), report)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    except UNAVAILABLE as error:
        raise click.ClickException(f"cannot restore into {describe(url)}: {error}") from error
    click.echo(f"Restored {result.summary()}")
    click.echo(f"into {describe(url)}. Next: `survey migrate`, then `survey serve`.")


COMMANDS = [backup, restore]
