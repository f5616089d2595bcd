"""``survey rollup rebuild``: recompute the statistics cells from the stored responses."""

from __future__ import annotations

import sys
import time

import click

from survey_app.cli.common import run_with_database
from survey_app.lib.settings import Settings


@click.group()
def rollup() -> None:
    """The statistics cells that every statistic reads."""


@rollup.command()
def rebuild() -> None:
    """Recompute every cell from the responses, in one transaction.

    The cells are kept up to date with each response, so this is needed only
    after responses were changed outside the service (a restore, a manual
    fix), and after changing SURVEY_TIMEZONE: cells count local days. Statistics
    read the old cells until the new ones are committed.
    """
    from survey_app.db import cells
    from survey_app.db.tables import Response, ResponseCell

    async def work(settings: Settings) -> tuple[int, int, float]:
        click.echo(
            f"Rebuilding the statistics cells from the responses, in {settings.timezone} days…",
            err=True,
        )
        started = time.perf_counter()
        total = await Response.count()
        with click.progressbar(length=total, label="Counting responses", file=sys.stderr) as bar:
            count = await cells.rebuild(ResponseCell._meta.db, progress=bar.update)
        return count, total, time.perf_counter() - started

    count, responses, seconds = run_with_database(work)
    click.echo(f"Rebuilt {count:,} cells from {responses:,} responses in {seconds:.1f} s.")
