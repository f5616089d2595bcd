"""``survey serve``, ``survey migrate`` and ``survey demo``."""

from __future__ import annotations

import asyncio
import contextlib
import logging.config
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from survey_app.cli.common import run_with_database
from survey_app.db.engine import UNAVAILABLE, describe, engine_from_url
from survey_app.db.tables import TOKEN_BYTES
from survey_app.lib.logs import LOG_FORMATS, LOG_LEVELS, log_config
from survey_app.lib.settings import Settings, database_url_from_env, private_var_dir

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar
    from uvicorn.supervisors import Multiprocess

PICCOLO_CONF = "survey_app.piccolo_conf"
# `survey serve --log-level/--log-format`, also read by each worker of --workers N.
LOG_LEVEL_VARIABLE = "SURVEY_LOG_LEVEL"
LOG_FORMAT_VARIABLE = "SURVEY_LOG_FORMAT"
# prometheus_client's multi-process mode, read when it is first imported: `survey serve
# --workers N` names a directory of its own there, where every worker keeps its metrics.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def serve_log_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The log configuration named by SURVEY_LOG_LEVEL and SURVEY_LOG_FORMAT."""
    env = os.environ if environ is None else environ
    return log_config(
        env.get(LOG_LEVEL_VARIABLE, "info"), env.get(LOG_FORMAT_VARIABLE, "plain"), TOKEN_BYTES
    )


def worker_app() -> Litestar:
    """The app of one worker of ``survey serve --workers N``.

    Litestar configures logging as it builds the app (its own root handler, without
    redaction); the worker's logging is set up again afterwards, as ``survey serve`` does.
    """
    from survey_app.server.app import create_app

    app = create_app()
    logging.config.dictConfig(serve_log_config())
    return app


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
@click.option(
    "--log-level",
    envvar=LOG_LEVEL_VARIABLE,
    default="info",
    show_default=True,
    type=click.Choice(list(LOG_LEVELS), case_sensitive=False),
    help="Least severe lines logged, by uvicorn, Litestar and the service alike.",
)
@click.option(
    "--log-format",
    envvar=LOG_FORMAT_VARIABLE,
    default="plain",
    show_default=True,
    type=click.Choice(LOG_FORMATS),
    help="plain lines, or one JSON object per line. Invitation tokens are redacted in both.",
)
def serve(host: str, port: int, workers: int, log_level: str, log_format: str) -> None:
    """Serve the questionnaire, the portal API and the admin pages."""
    # Before anything imports prometheus_client: a directory inherited from the shell would
    # mix another server's counts into ours. --workers N makes one of its own below.
    for name in (METRICS_DIR_VARIABLE, METRICS_DIR_VARIABLE.lower()):  # and the old spelling
        os.environ.pop(name, None)
    import uvicorn

    from questionnaires import QuestionnaireError
    from survey_app.lib.i18n import CatalogError
    from survey_app.server.app import create_app, preflight

    # Every worker reads the logging choice from the environment (see worker_app).
    log_level = log_level.lower()
    os.environ.update({LOG_LEVEL_VARIABLE: log_level, LOG_FORMAT_VARIABLE: log_format})
    logging_config = serve_log_config()
    private_var_dir()
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
    # After create_app, which lets Litestar configure logging its own way.
    logging.config.dictConfig(logging_config)
    try:
        asyncio.run(preflight(app))
    except UNAVAILABLE as error:
        raise click.ClickException(
            f"cannot start: database {describe(settings.database_url)} unreachable ({error})"
        ) from error
    except RuntimeError as error:
        raise click.ClickException(f"cannot start: {error}") from error
    # On a terminal, lines for a person; with JSON logs, records like every other line, so
    # that a log shipper reading the output never meets a line it cannot parse.
    say = logging.getLogger("survey").info if log_format == "json" else click.echo
    say(f"Database: {describe(settings.database_url)}")
    if settings.read_database_url:
        say(
            f"Statistics read from: {describe(settings.read_database_url)} "
            f"(the primary while it lags more than {settings.read_max_lag_s:g} s or is down)"
        )
    say(f"Serving on http://{host}:{port}/  (admin: http://{host}:{port}/admin/)")
    if workers == 1:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=logging_config,
            log_level=LOG_LEVELS[log_level],
            proxy_headers=True,
        )
    else:
        config = uvicorn.Config(
            f"{__name__}:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=logging_config,
            log_level=LOG_LEVELS[log_level],
            proxy_headers=True,
        )
        # What uvicorn.run does for several workers, with a listener of our own; the
        # workers keep their metrics in one directory, so any of them answers a scrape
        # for all.
        sockets = [listening_socket(host, port)]
        with metrics_directory():
            supervisor(config, sockets).run()


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """A fresh private directory for the workers' metrics, named in the environment they
    inherit, and removed with its files afterwards (they describe processes now gone)."""
    path = Path(tempfile.mkdtemp(prefix="survey-metrics-"))  # mode 0700
    os.environ[METRICS_DIR_VARIABLE] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(METRICS_DIR_VARIABLE, None)
        shutil.rmtree(path, ignore_errors=True)


def supervisor(config: uvicorn.Config, sockets: list[socket.socket]) -> Multiprocess:
    """uvicorn's supervisor of the workers, which also tells the metrics when a worker is
    gone (died and replaced, or retired on SIGHUP or SIGTTOU)."""
    from prometheus_client.multiprocess import mark_process_dead
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        def keep_subprocess_alive(self) -> None:
            self._marking(super().keep_subprocess_alive)

        def handle_signals(self) -> None:
            self._marking(super().handle_signals)

        def _marking(self, step: Callable[[], None]) -> None:
            before = {process.pid for process in self.processes}
            step()
            for pid in before - {process.pid for process in self.processes}:
                if pid is not None:  # its live gauges go; its counts stay in the sums
                    mark_process_dead(pid)

    return Supervisor(config, sockets=sockets)


def listening_socket(host: str, port: int) -> socket.socket:
    """The listener the workers share, created as a TCP socket by name.

    uvicorn binds it with protocol 0; each worker gets a copy that keeps that
    protocol, so do the connections it accepts, and asyncio sets ``TCP_NODELAY``
    only on sockets whose protocol reads ``IPPROTO_TCP``. Without it every
    keep-alive request after the first waits about 40 ms for the client's delayed
    ACK (uvicorn issue #3149).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from error
    sock.set_inheritable(True)
    return sock


@click.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run again)."""
    os.environ["PICCOLO_CONF"] = PICCOLO_CONF
    from piccolo.apps.migrations.commands.forwards import run_forwards

    url = database_url_from_env()
    private_var_dir()
    try:
        # Checked before Piccolo imports its configuration, which would raise it as a traceback.
        engine_from_url(url)
    except ValueError as error:
        raise click.ClickException(f"cannot migrate: {error}") from error
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
    click.echo(f"Dashboard: {result.dashboard}  (and {result.base_url}/admin/)")
    if result.password:
        click.echo(
            f"Demo staff login, DEMO ONLY: user {fixtures.DEMO_USER}, password {result.password}\n"
            "  An administrator: shown this once, not stored in clear. Never load the demo "
            "into a database that serves citizens."
        )
    else:
        click.echo(
            f"Demo staff login: user {fixtures.DEMO_USER} (its password was printed when "
            "`survey demo` first created it; more logins: survey user create NAME --admin)"
        )


COMMANDS = [serve, migrate, demo]
