"""``survey publish``: a quarter's published aggregates as an open-data package."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from survey_app.lib.settings import Settings


def _quarter(_ctx: click.Context, _param: click.Parameter, value: str | None):  # type: ignore[no-untyped-def]
    from survey_app.publication.aggregates import Quarter, QuarterError

    if value is None:
        return Quarter.of(dt.date.today()).previous()
    try:
        return Quarter.parse(value)
    except QuarterError as error:
        raise click.BadParameter(str(error)) from error


@click.command()
@click.option(
    "--quarter",
    callback=_quarter,
    help="The quarter, e.g. 2026Q3 (default: the last complete one).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the package into (created if missing).",
)
def publish(quarter, out: Path) -> None:  # type: ignore[no-untyped-def]
    """Write a quarter's published aggregates as a Frictionless data package.

    datapackage.json, the national, per-agency and reasons tables as CSV and
    Parquet, a codebook of every code and column in every language, and the
    methodology. Only figures that pass the disclosure rule are written.
    """
    from survey_app.cli.common import run_with_database
    from survey_app.publication import package
    from survey_app.publication.aggregates import published
    from survey_app.server.app import build_context

    async def work(settings: Settings):  # type: ignore[no-untyped-def]
        ctx = build_context(settings)
        result = await published(quarter, settings.dissatisfied_max)
        files = package.package_files(result, ctx.catalogs.gettext, package.reason_labels(ctx))
        return result, files

    result, files = run_with_database(work)
    written = package.write_directory(files, out)
    national = result.national.iloc[0]
    click.echo(
        f"{quarter}: {int(national['responses'])} responses from "
        f"{int(national['agencies_published'])} agencies published, "
        f"{int(national['agencies_withheld'])} withheld; {len(written)} files in {out}"
    )
    if result.empty:
        click.echo(f"No published figures for {quarter}: the tables hold headers only.")


COMMANDS = [publish]
