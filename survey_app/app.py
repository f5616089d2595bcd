"""The application factory: the one place where the service is assembled."""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.template import TemplateConfig
from piccolo.engine.postgres import PostgresEngine

from questionnaires import DEFAULT_QUESTIONNAIRE_ID, load_directory
from survey_app import ops
from survey_app.admin import admin_handler
from survey_app.citizen import embed, pages
from survey_app.citizen.conditions import condition_css
from survey_app.context import AppContext
from survey_app.dashboard import pages as dashboard_pages
from survey_app.i18n import Catalogs
from survey_app.limits import RequestLimits
from survey_app.portal import invitations as portal_invitations
from survey_app.portal import questionnaires as portal_questionnaires
from survey_app.portal import responses as portal_responses
from survey_app.ratelimit import STORE_NAME, rate_limit_store, rate_limits
from survey_app.registry import register_questionnaires
from survey_app.security import security_headers
from survey_app.settings import SUPPORTED_LOCALES, Settings
from survey_app.stats import api as stats_api
from survey_app.stats import comments as stats_comments
from survey_app.stats import exports as stats_exports
from survey_app.storage.engine import UNAVAILABLE, bind_tables, engine_from_url, ping, prepare
from survey_app.storage.group_commit import writer_for
from survey_app.storage.tables import ALL_TABLES

PACKAGE_DIR = Path(__file__).resolve().parent
log = logging.getLogger("survey")

RETRY_AFTER_S = "5"


def create_app(settings: Settings | None = None) -> Litestar:
    """Assemble the service for ``settings`` (read from the environment when omitted).

    Nothing connects here: the database is reached in the lifespan. A
    questionnaire file that does not validate, or a catalog that was not
    compiled, raises now with the file and the reason.
    """
    settings = settings or Settings.from_env()
    engine = engine_from_url(settings.database_url)
    bind_tables(engine, ALL_TABLES)
    questionnaires = load_directory(
        settings.questionnaire_dir, locales_dir=settings.locales_dir, locales=SUPPORTED_LOCALES
    )
    catalogs = Catalogs(settings.locales_dir, SUPPORTED_LOCALES)
    writer = writer_for(engine, questionnaires.get)
    limits_store = rate_limit_store(settings)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        questionnaires=questionnaires,
        catalogs=catalogs,
        default_questionnaire=DEFAULT_QUESTIONNAIRE_ID,
        condition_css={qid: condition_css(q) for qid, q in questionnaires.items()},
        writer=writer,
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool()
        try:
            await prepare(engine)
            await register_questionnaires(questionnaires.values())
            await writer.start()
            # Everything loaded so far (libraries, catalogs, questionnaires) lives as
            # long as the process: keep it out of the collector's full passes, which
            # otherwise scan it all and stall requests for a fifth of a second.
            gc.freeze()
            try:
                async with limits_store:
                    yield
            finally:
                await writer.stop()
        finally:
            if isinstance(engine, PostgresEngine):
                await engine.close_connection_pool()

    environment = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    catalogs.install(environment)

    def html_or_json(request: Request, exc: Exception) -> Response:
        return error_response(ctx, request, exc)

    return Litestar(
        route_handlers=[
            ops.livez,
            ops.readyz,
            embed.embed_js,
            pages.show_questionnaire,
            pages.submit_questionnaire,
            pages.thanks,
            pages.questionnaire_css,
            portal_invitations.create_invitation,
            portal_questionnaires.get_questionnaire,
            portal_responses.submit_response,
            *stats_api.ROUTES,
            *stats_exports.ROUTES,
            *stats_comments.ROUTES,
            *dashboard_pages.ROUTES,
            create_static_files_router(path="/static", directories=[PACKAGE_DIR / "static"]),
            admin_handler(production=settings.https),
        ],
        dependencies={"ctx": Provide(lambda: ctx, sync_to_thread=False)},
        lifespan=[lifespan],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment)),
        openapi_config=OpenAPIConfig(
            title="Citizen satisfaction survey API",
            version="1.0.0",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=512),
        # Staff forms carry a CSRF token. The citizen form (token in the path is the
        # capability, and an iframe may get no cookies), the bearer-key API and
        # piccolo_admin (its own CSRF protection) are left out.
        middleware=[RequestLimits, *rate_limits(settings)],
        before_send=[security_headers],
        stores={STORE_NAME: limits_store},
        csrf_config=CSRFConfig(
            secret=hashlib.sha256(f"csrf:{settings.secret}".encode()).hexdigest(),
            cookie_name="survey_csrf",
            cookie_secure=settings.https,
            exclude=["^/api/", "^/s/", "^/admin"],
        ),
        request_max_body_size=settings.max_body_bytes,
        exception_handlers={
            HTTPException: html_or_json,
            UnicodeDecodeError: html_or_json,
            **dict.fromkeys(UNAVAILABLE, html_or_json),
            Exception: html_or_json,
        },
        debug=settings.debug,
        state={"ctx": ctx},
    )


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/schema")):
        return False
    return path.startswith("/s/") or "text/html" in request.headers.get("accept", "")


def error_response(ctx: AppContext, request: Request, exc: Exception) -> Response:
    """Every error as JSON for the API and as a localized page for people; never a trace."""
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):
        status, detail, extra = exc.status_code, exc.detail, exc.extra
        headers.update(exc.headers or {})
        if status == HTTP_429_TOO_MANY_REQUESTS and "RateLimit-Reset" in headers:
            # RateLimit-Reset counts whole seconds left in the window; 0 means "this second".
            headers.setdefault("Retry-After", str(max(1, int(headers["RateLimit-Reset"]))))
    elif isinstance(exc, UnicodeDecodeError):
        # Litestar lets a body that is not UTF-8 escape its JSON decoder as a bare error.
        status, detail, extra = HTTP_400_BAD_REQUEST, "The request body is not valid UTF-8", None
    elif isinstance(exc, UNAVAILABLE):
        log.warning("database unavailable: %s", type(exc).__name__)
        status, detail, extra = (
            HTTP_503_SERVICE_UNAVAILABLE,
            "The database is unavailable; retry shortly",
            None,
        )
        headers["Retry-After"] = RETRY_AFTER_S
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, detail, extra = HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error", None
    if wants_html(request):
        page = pages.error_page(ctx, request, status)
        page.headers.update(headers)
        return page
    body: dict[str, object] = {"status_code": status, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=status, headers=headers)


async def preflight(app: Litestar) -> None:
    """Reach the database once, so ``survey serve`` can refuse to start with a clear reason."""
    ctx: AppContext = app.state["ctx"]
    await ping(ctx.engine)
