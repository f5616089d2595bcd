"""The application factory: the one place where the service is assembled.

Nothing connects, reads the environment or loads a file at import time:
``create_app`` does it for the settings it is given, and the database is
reached in the lifespan.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Litestar, Request, Router
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import NamedDependency, Provide
from litestar.file_system import BaseLocalFileSystem
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import PathType
from litestar.types.file_types import FileInfo

from questionnaires import DEFAULT_QUESTIONNAIRE_ID, load_directory
from survey_app.audit.controller import AuditController
from survey_app.auth import controller as login
from survey_app.auth.guards import PUBLIC, current_principal, unguarded_routes
from survey_app.citizen import pages as citizen
from survey_app.citizen.conditions import condition_css
from survey_app.dashboard import controller as dashboard
from survey_app.db.engine import attach_replica, bind_tables, engine_from_url, ping
from survey_app.db.tables import ALL_TABLES
from survey_app.definitions import controller as definitions
from survey_app.invitations import controller as invitations
from survey_app.lib.context import AppContext
from survey_app.lib.i18n import Catalogs
from survey_app.lib.settings import SUPPORTED_LOCALES, Settings
from survey_app.publication import controller as publication
from survey_app.server import health
from survey_app.server.admin import admin_handler
from survey_app.server.compression import GzipWhenAccepted
from survey_app.server.errors import handled_exceptions
from survey_app.server.headers import security_headers
from survey_app.server.lifespan import lifespan
from survey_app.server.metrics import metrics_controller, prometheus_config
from survey_app.server.openapi import openapi_config
from survey_app.server.rate_limits import STORE_NAME, rate_limit_store, rate_limits
from survey_app.server.request_size import RequestLimits
from survey_app.statistics.comments import CommentsController
from survey_app.statistics.controller import StatisticsController
from survey_app.statistics.exports import ExportsController
from survey_app.submissions import controller as submissions
from survey_app.submissions.writer import GroupCommitWriter, writer_for
from survey_app.webhooks.outbox import Outbox

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> Litestar:
    """Assemble the service for ``settings`` (read from the environment when omitted).

    A questionnaire file that does not validate, or a catalog that was not
    compiled, raises now with the file and the reason; so does a route that
    declares neither a guard nor ``opt=PUBLIC``.
    """
    settings = settings or Settings.from_env()
    ctx = build_context(settings)
    writer = writer_for(ctx.engine, ctx.questionnaire, Outbox.from_settings(settings))
    limits_store = rate_limit_store(settings)
    app = Litestar(
        route_handlers=[
            health.livez,
            health.readyz,
            metrics_controller(settings),
            citizen.ROUTER,
            invitations.create_invitation,
            definitions.get_questionnaire,
            submissions.submit_response,
            StatisticsController,
            ExportsController,
            CommentsController,
            AuditController,
            *login.ROUTES,
            *dashboard.ROUTES,
            *publication.ROUTES,
            static_files_router(),
            admin_handler(production=settings.https),
        ],
        dependencies=dependencies(ctx, writer),
        lifespan=[lifespan(ctx, writer, limits_store)],
        template_config=template_config(ctx.catalogs),
        openapi_config=openapi_config(),
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=512, middleware_class=GzipWhenAccepted
        ),
        # Request metrics innermost: what the limits refuse never reaches a route's series.
        middleware=[
            RequestLimits,
            *rate_limits(settings, limits_store),
            prometheus_config().middleware,
        ],
        before_send=[security_headers],
        stores={STORE_NAME: limits_store},
        csrf_config=csrf_config(settings),
        request_max_body_size=settings.max_body_bytes,
        exception_handlers=handled_exceptions(ctx),  # type: ignore[arg-type]
        debug=settings.debug,
        state={"ctx": ctx, "writer": writer},
    )
    unguarded = unguarded_routes(app)
    if unguarded:
        raise RuntimeError(
            "routes with neither a guard nor opt=PUBLIC (denied by default): "
            + ", ".join(unguarded)
        )
    return app


def dependencies(ctx: AppContext, writer: GroupCommitWriter) -> dict[str, Provide]:
    """``ctx``, ``writer`` and ``principal``, each provided as a chain (principal after
    writer after ctx). Litestar resolves independent dependencies of a handler in an
    anyio task group, about 25 µs a dependency (three cost 100 µs against 34 when
    chained, in process); a chain is resolved one by one, and each link is a cheap
    synchronous call."""

    def provide_writer(ctx: NamedDependency[Any]) -> GroupCommitWriter:
        return writer

    def provide_principal(request: Request, writer: NamedDependency[Any]) -> Any:
        return current_principal(request)

    return {
        "ctx": Provide(lambda: ctx, sync_to_thread=False),
        "writer": Provide(provide_writer, sync_to_thread=False),
        "principal": Provide(provide_principal, sync_to_thread=False),
    }


class StaticFileSystem(BaseLocalFileSystem):
    """The local file system as ``/static`` sees it: a name with a control character (a NUL
    makes ``stat`` raise ValueError) or a ``..`` segment names no file, so it is a 404."""

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        text = str(path)
        if any(ord(char) < 32 or ord(char) == 127 for char in text) or ".." in Path(text).parts:
            raise FileNotFoundError(text)
        return await super().info(path, **kwargs)


def static_files_router() -> Router:
    """``/static``: the package's own files, a 404 for anything else."""
    return create_static_files_router(
        path="/static",
        directories=[PACKAGE_DIR / "static"],
        file_system=StaticFileSystem(),
        opt=PUBLIC,
    )


def build_context(settings: Settings) -> AppContext:
    """The engine (bound to every table, with its read replica), the questionnaires and the
    catalogs."""
    engine = engine_from_url(settings.database_url)
    if settings.read_database_url:
        attach_replica(
            engine, settings.read_database_url, settings.read_max_lag_s, settings.read_check_s
        )
    bind_tables(engine, ALL_TABLES)
    questionnaires = load_directory(
        settings.questionnaire_dir, locales_dir=settings.locales_dir, locales=SUPPORTED_LOCALES
    )
    return AppContext(
        settings=settings,
        engine=engine,
        questionnaires=questionnaires,
        catalogs=Catalogs(settings.locales_dir, SUPPORTED_LOCALES),
        default_questionnaire=DEFAULT_QUESTIONNAIRE_ID,
        condition_css={qid: condition_css(q) for qid, q in questionnaires.items()},
    )


def template_config(catalogs: Catalogs) -> TemplateConfig:
    environment = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    catalogs.install(environment)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


# Routes with no form and no state-changing method: on a GET, Litestar's CSRF middleware
# builds a request, signs a fresh token and sets a cookie, half the cost of a /livez.
NO_FORMS = ["^/livez$", "^/readyz$", "^/metrics$", "^/static/", "^/embed\\.js$", "^/q/"]


def csrf_config(settings: Settings) -> CSRFConfig:
    """Staff forms carry a CSRF token. The citizen form (the token in the path is the
    capability, and an iframe may get no cookies), the bearer-key API and piccolo_admin
    (its own CSRF protection) are left out, and so are routes that only serve files or
    health (``NO_FORMS``); any other route gets the token, and unsafe methods need it."""
    return CSRFConfig(
        secret=hashlib.sha256(f"csrf:{settings.secret}".encode()).hexdigest(),
        cookie_name="survey_csrf",
        cookie_secure=settings.https,
        exclude=["^/api/", "^/s/", "^/admin", "^/public", *NO_FORMS],
    )


async def preflight(app: Litestar) -> None:
    """Reach the database once, so ``survey serve`` can refuse to start with a clear reason."""
    ctx: AppContext = app.state["ctx"]
    await ping(ctx.engine)
