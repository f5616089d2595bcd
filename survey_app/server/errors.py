"""Every error answer in one place: JSON for the API, a localized page for people.

Never a trace: an unexpected error is logged and answered 500; a database
that does not answer is 503 with ``Retry-After``; a page that needs a login
sends its visitor to ``/login`` and back.
"""

from __future__ import annotations

import logging

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from survey_app.auth.guards import LoginRequired
from survey_app.citizen.pages import MESSAGES
from survey_app.db.engine import UNAVAILABLE
from survey_app.lib.context import AppContext
from survey_app.lib.i18n import N_, request_locale

log = logging.getLogger("survey")

RETRY_AFTER_S = "5"
# Text PostgreSQL refuses to read (a NUL, a character outside the encoding): what a request
# carried, never the server's fault. Filters refuse them first; this covers every other value.
UNREADABLE_TEXT: tuple[type[Exception], ...] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)

# Pages by status: (heading msgid, text msgid).
ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: (
        N_("Request not understood"),
        N_("The page received something it could not read. Please try again."),
    ),
    403: MESSAGES["forbidden"][:2],
    404: (N_("Page not found"), N_("There is no page at this address.")),
    413: (
        N_("Too much text"),
        N_("What you sent is too long. Please shorten it and try again."),
    ),
    429: (N_("Too many requests"), N_("Please wait a moment, then try again.")),
    503: (
        N_("Temporarily unavailable"),
        N_("We cannot save or show the survey right now. Please try again in a few minutes."),
    ),
}
SERVER_ERROR = (
    N_("Something went wrong"),
    N_("We could not show this page. Please try again in a few minutes."),
)


def handled_exceptions(ctx: AppContext) -> dict[type[Exception], object]:
    """The app's exception handlers: every exception goes through ``error_response``."""

    def handler(request: Request, exc: Exception) -> Response:
        return error_response(ctx, request, exc)

    return {
        HTTPException: handler,
        UnicodeDecodeError: handler,
        **dict.fromkeys(UNREADABLE_TEXT, handler),
        **dict.fromkeys(UNAVAILABLE, handler),
        Exception: handler,
    }


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/schema")):
        return False
    return path.startswith("/s/") or "text/html" in request.headers.get("accept", "")


def error_response(ctx: AppContext, request: Request, exc: Exception) -> Response:
    """Every error as JSON for the API and as a localized page for people; never a trace."""
    if isinstance(exc, LoginRequired):
        return Redirect(exc.location, status_code=303)
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
    elif isinstance(exc, UNREADABLE_TEXT):
        log.info("refused text the database cannot read on %s", request.method)
        status, detail, extra = (
            HTTP_400_BAD_REQUEST,
            "The request contains a character that cannot be used here (a control character?)",
            None,
        )
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
        page = error_page(ctx, request, status)
        page.headers.update(headers)
        return page
    body: dict[str, object] = {"status_code": status, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=status, headers=headers)


def error_page(ctx: AppContext, request: Request, status: int) -> Template:
    locale = request_locale(request)
    heading, text = ERROR_PAGES.get(status, SERVER_ERROR)
    gettext = ctx.catalogs.get(locale).gettext
    return Template(
        template_name="message.html",
        context={
            "locale": locale,
            "heading": gettext(heading),
            "text": gettext(text),
            "agency": None,
            "languages": [],
        },
        status_code=status,
    )
