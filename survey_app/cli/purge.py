"""Data past its retention period: ``survey purge comments --older-than 180d`` (free text),
``survey purge audit`` (audit-log entries older than ``SURVEY_AUDIT_DAYS``, 400 days by
default) and ``survey purge webhooks`` (delivered webhook events, 90 days by default)."""

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


@purge.command()
@click.option(
    "--older-than",
    "older_than",
    default=None,
    help="Age, e.g. 400d or 57w; default: SURVEY_AUDIT_DAYS days (400 when unset).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def audit(older_than: str | None, dry_run: bool) -> None:
    """Delete audit-log entries (who read comments and microdata) older than the given age."""
    from survey_app.audit import log

    if older_than is None:
        try:
            age = dt.timedelta(days=log.retention_days())
        except ValueError as error:
            raise click.ClickException(str(error)) from error
    else:
        age = parse_age(older_than)

    async def work(_: Settings) -> tuple[int, dt.datetime]:
        return await log.purge(age, dry_run=dry_run)

    count, cutoff = run_with_database(work)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {count} audit entry(ies) recorded before {cutoff:%Y-%m-%d %H:%M} UTC.")


@purge.command()
@click.option(
    "--older-than", "older_than", default="90d", show_default=True, help="Age, e.g. 30d or 13w."
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def webhooks(older_than: str, dry_run: bool) -> None:
    """Delete webhook events delivered and older than the given age, with their attempts.

    Events still waiting for an endpoint (pending, or paused while it is disabled) are kept
    whatever their age. A purged event can no longer be replayed.
    """
    from survey_app.webhooks import endpoints

    age = parse_age(older_than)

    async def work(_: Settings) -> tuple[int, dt.datetime]:
        counted = await endpoints.purge(age, dry_run=True)
        if dry_run or not counted[0]:
            return counted
        stderr = click.get_text_stream("stderr")
        with click.progressbar(length=counted[0], label="Deleting", file=stderr) as bar:
            return await endpoints.purge(age, dry_run=False, progress=bar.update)

    count, cutoff = run_with_database(work)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {count} delivered webhook event(s) created before {cutoff:%Y-%m-%d %H:%M} UTC."
    )
