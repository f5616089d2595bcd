"""``/login`` and ``/logout``: staff sessions for the dashboard (and ``/admin`` for admins).

Failed logins are throttled per client address and per user name
(``auth.throttle``): past the limit, 429 with ``Retry-After`` and the login
page saying how long to wait, whether or not the user exists.
"""

from __future__ import annotations

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_429_TOO_MANY_REQUESTS

from survey_app.auth import staff
from survey_app.auth.guards import PUBLIC
from survey_app.auth.throttle import Attempt, client_id, login_throttle, wait_message
from survey_app.lib.context import Ctx
from survey_app.lib.i18n import N_, language_links, request_locale


def login_page(
    request: Request, locale: str, error: str | None = None, wait_s: int | None = None
) -> Template:
    """The form; with ``error`` a 400, with ``wait_s`` (throttled) a 429 with ``Retry-After``."""
    if wait_s is not None:
        status, headers = HTTP_429_TOO_MANY_REQUESTS, {"Retry-After": str(wait_s)}
    else:
        status, headers = (HTTP_400_BAD_REQUEST if error else 200), {}
    return Template(
        template_name="login.html",
        context={
            "locale": locale,
            "error": error,
            "languages": language_links(request.url.path),
            "next": request.query_params.get("next", "/dashboard"),
        },
        status_code=status,
        headers=headers,
    )


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another origin.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/dashboard"
    return target


@get("/login", include_in_schema=False, opt=PUBLIC)
async def login_form(request: Request) -> Template:
    return login_page(request, request_locale(request))


@post("/login", include_in_schema=False, status_code=303, opt=PUBLIC)
async def login(request: Request, ctx: Ctx) -> Template | Redirect:
    form = await request.form()
    locale = request_locale(request, form.get("lang"))
    username = str(form.get("username", ""))
    throttle = login_throttle(request.app)
    attempt = Attempt(client_id(request), username)
    wait_s = await throttle.begin(attempt)
    if wait_s is not None:
        return login_page(request, locale, wait_message(ctx.catalogs, locale, wait_s), wait_s)
    token = await staff.log_in(username, str(form.get("password", "")))
    if token is None:
        message = ctx.catalogs.gettext(locale, N_("Wrong user name or password."))
        return login_page(request, locale, message)
    await throttle.succeeded(attempt)
    cookie = Cookie(
        key=staff.SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.https,
        max_age=staff.SESSION_HOURS * 3600,
    )
    return Redirect(_safe_next(form.get("next")), status_code=303, cookies=[cookie])


@post("/logout", include_in_schema=False, status_code=303, opt=PUBLIC)
async def logout(request: Request) -> Redirect:
    await staff.log_out(request.cookies.get(staff.SESSION_COOKIE))
    response = Redirect("/login", status_code=303)
    response.delete_cookie(staff.SESSION_COOKIE)
    return response


ROUTES = [login_form, login, logout]
