"""``survey rollup rebuild``: recompute the statistics cells from the stored responses."""

from __future__ import annotations

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
    fix). Statistics read the old cells until the new ones are committed.
    """
    from survey_app.db import cells
    from survey_app.db.tables import Response, ResponseCell

    async def work(_: Settings) -> tuple[int, int, float]:
        started = time.perf_counter()
        count = await cells.rebuild(ResponseCell._meta.db)
        return count, await Response.count(), time.perf_counter() - started

    click.echo("Rebuilding the statistics cells from the responses…", err=True)
    count, responses, seconds = run_with_database(work)
    click.echo(f"Rebuilt {count:,} cells from {responses:,} responses in {seconds:.1f} s.")
