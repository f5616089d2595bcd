"""``survey serve``, ``survey migrate`` and ``survey demo``."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import click

from survey_app.cli.common import run_with_database
from survey_app.db.engine import UNAVAILABLE, describe
from survey_app.lib.settings import Settings, database_url_from_env

PICCOLO_CONF = "survey_app.piccolo_conf"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; they share the database, and the rate limits through "
    "SURVEY_REDIS_URL (required above 1 worker).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the questionnaire, the portal API and the admin pages."""
    import uvicorn

    from questionnaires import QuestionnaireError
    from survey_app.lib.i18n import CatalogError
    from survey_app.server.app import create_app, preflight

    try:
        settings = Settings.from_env()
    except ValueError as error:
        raise click.ClickException(f"cannot start: {error}") from error
    if workers > 1 and settings.redis_url is None:
        limited = settings.citizen_rate_per_minute > 0 or settings.api_rate_per_second > 0
        if limited:
            raise click.ClickException(
                f"cannot start {workers} workers without SURVEY_REDIS_URL: each worker would "
                f"count requests on its own and grant {workers} times the rate limits"
            )
    try:
        app = create_app(settings)
    except (QuestionnaireError, CatalogError, ValueError) as error:
        raise click.ClickException(f"cannot start: {error}") from error
    try:
        asyncio.run(preflight(app))
    except UNAVAILABLE as error:
        raise click.ClickException(
            f"cannot start: database {describe(settings.database_url)} unreachable ({error})"
        ) from error
    except RuntimeError as error:
        raise click.ClickException(f"cannot start: {error}") from error
    click.echo(f"Database: {describe(settings.database_url)}")
    click.echo(f"Serving on http://{host}:{port}/  (admin: http://{host}:{port}/admin/)")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)
    else:
        uvicorn.run(
            "survey_app.server.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            proxy_headers=True,
        )


@click.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run again)."""
    os.environ["PICCOLO_CONF"] = PICCOLO_CONF
    from piccolo.apps.migrations.commands.forwards import run_forwards

    url = database_url_from_env()
    click.echo(f"Migrating {describe(url)}")
    try:
        result = asyncio.run(run_forwards(app_name="all"))
    except UNAVAILABLE as error:
        raise click.ClickException(f"cannot reach database {describe(url)}: {error}") from error
    if not result.success:
        raise click.ClickException(f"migration failed: {result.message}")
    click.echo("Database is up to date.")


@click.command()
@click.option(
    "--responses",
    type=click.IntRange(0),
    default=None,
    help="Add this many synthetic responses. Default: 3000 when the database has none, else 0.",
)
@click.option(
    "--months",
    type=click.IntRange(1, 120),
    default=12,
    show_default=True,
    help="Spread them over this many past months.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default: fixed, reproducible).")
def demo(responses: int | None, months: int, seed: int | None) -> None:
    """Load demo agencies, services and responses; print a working questionnaire link.

    Agencies and services are added only when missing, so running it again
    changes nothing unless --responses asks for more.
    """
    from survey_app.db.tables import Response
    from survey_app.demo import fixtures, synthetic

    async def work(settings: Settings) -> tuple[fixtures.DemoResult, int, float]:
        result = await fixtures.load(settings)
        wanted = responses
        if wanted is None:
            wanted = synthetic.FIRST_RUN_RESPONSES if await Response.count() == 0 else 0
        if not wanted:
            return result, 0, 0.0
        started = time.perf_counter()
        with click.progressbar(length=wanted, label="Synthetic responses", file=sys.stderr) as bar:
            added = await synthetic.synthesize(
                wanted, months, seed if seed is not None else synthetic.DEMO_SEED, bar.update
            )
        return result, added, time.perf_counter() - started

    result, added, seconds = run_with_database(work)
    click.echo(
        f"Demo data: {result.agencies_added} agencies and {result.services_added} services added "
        f"({result.agencies_total} agencies, {result.services_total} services in all); "
        f"{added} responses added."
    )
    if added:
        click.echo(
            f"Loaded {added} responses in {seconds:.1f} s ({added / seconds:,.0f} responses/s)."
        )
    click.echo(f"Questionnaire link: {result.link}")
    click.echo(
        f"Admin: {result.base_url}/admin/  (create a login: survey user create NAME --admin)"
    )


COMMANDS = [serve, migrate, demo]
