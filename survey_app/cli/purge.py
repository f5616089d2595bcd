"""``survey purge comments --older-than 180d``: free text past its retention period."""

from __future__ import annotations

import datetime as dt
import re

import click

from survey_app.cli.common import run_with_database
from survey_app.lib.settings import Settings

AGE = re.compile(r"^(\d+)([dw])$")


def parse_age(value: str) -> dt.timedelta:
    match = AGE.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter(f"{value!r}: use a number of days or weeks, e.g. 180d or 26w")
    number, unit = int(match.group(1)), match.group(2)
    return dt.timedelta(days=number * (7 if unit == "w" else 1))


@click.group()
def purge() -> None:
    """Delete data past its retention period."""


@purge.command()
@click.option("--older-than", "older_than", required=True, help="Age, e.g. 180d or 26w.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def comments(older_than: str, dry_run: bool) -> None:
    """Delete comments and other free text older than the given age.

    Ratings and reasons (the statistical record) are kept.
    """
    from survey_app.db.tables import Comment

    cutoff = dt.datetime.now(dt.UTC) - parse_age(older_than)

    async def work(_: Settings) -> int:
        old = Comment.created_at < cutoff
        count = await Comment.count().where(old)
        if count and not dry_run:
            await Comment.delete().where(old)
        return count

    count = run_with_database(work)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {count} comment(s) written before {cutoff:%Y-%m-%d %H:%M} UTC.")
