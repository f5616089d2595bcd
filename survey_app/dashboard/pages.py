"""``/dashboard`` for ministries and researchers, behind a staff login (``/login``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from analysis import charts
from survey_app import staff
from survey_app.citizen.pages import language_links, request_locale
from survey_app.context import Ctx
from survey_app.dashboard import data
from survey_app.i18n import N_
from survey_app.stats.api import STAFF_ROLES, caller

CHART_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
Viewer = NamedDependency[Any]


def login_page(request: Request, locale: str, error: str | None = None) -> Template:
    return Template(
        template_name="login.html",
        context={
            "locale": locale,
            "error": error,
            "languages": language_links(request.url.path),
            "next": request.query_params.get("next", "/dashboard"),
        },
        status_code=HTTP_400_BAD_REQUEST if error else 200,
    )


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another origin.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/dashboard"
    return target


@get("/login", include_in_schema=False)
async def login_form(request: Request) -> Template:
    return login_page(request, request_locale(request))


@post("/login", include_in_schema=False, status_code=303)
async def login(request: Request, ctx: Ctx) -> Template | Redirect:
    form = await request.form()
    locale = request_locale(request, form.get("lang"))
    token = await staff.log_in(str(form.get("username", "")), str(form.get("password", "")))
    if token is None:
        message = ctx.catalogs.gettext(locale, N_("Wrong user name or password."))
        return login_page(request, locale, message)
    cookie = Cookie(
        key=staff.SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.https,
        max_age=staff.SESSION_HOURS * 3600,
    )
    return Redirect(_safe_next(form.get("next")), status_code=303, cookies=[cookie])


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request) -> Redirect:
    await staff.log_out(request.cookies.get(staff.SESSION_COOKIE))
    response = Redirect("/login", status_code=303)
    response.delete_cookie(staff.SESSION_COOKIE)
    return response


@get("/dashboard", include_in_schema=False)
async def dashboard(
    request: Request, ctx: Ctx, agency: FromQuery[str | None] = None
) -> Template | Redirect:
    member = await staff.from_request(request)
    locale = request_locale(request)
    if member is None:
        return Redirect(
            f"/login?lang={locale}&next={quote(str(request.url.path))}", status_code=303
        )
    if member.role not in STAFF_ROLES:
        # A session of another role (e.g. a staff role of "portal" set in /admin) sees nothing.
        raise PermissionDeniedException(
            detail=f"The dashboard is not open to the role {member.role}"
        )
    selected = agency or member.agency_code
    overview = await data.overview(locale, selected)
    if overview.selected is None and overview.agencies and not agency:
        overview = await data.overview(locale, overview.agencies[0]["code"])
    gap = (
        data.gap_reasons(overview.selected.reasons, overview.selected.code).to_dict("records")
        if overview.selected and overview.selected.reasons
        else []
    )
    reason_labels = _reason_labels(ctx, locale)
    return Template(
        template_name="dashboard.html",
        context={
            "locale": locale,
            "member": member,
            "view": overview,
            "gap": gap,
            "reason_labels": reason_labels,
            "languages": language_links(request.url.path),
            "query": f"lang={locale}",
        },
    )


def _reason_labels(ctx: Any, locale: str) -> dict[str, str]:
    questionnaire = ctx.questionnaire(ctx.default_questionnaire)
    return {
        o.value: ctx.catalogs.gettext(locale, o.label)
        for o in questionnaire.question("reasons").options
    }


@get(
    "/charts/{name:str}",
    include_in_schema=False,
    dependencies={"viewer": Provide(caller(*STAFF_ROLES, what="Charts"))},
)
async def chart(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    name: FromPath[str],
    agency: FromQuery[str | None] = None,
) -> Response[bytes]:
    """``/charts/trend.svg``, ``/charts/agencies.png``, ``/charts/reasons.svg?agency=MIC``.

    Like the statistics API they draw: a staff session or a staff key (401 without, 403 for
    a portal key or another role).
    """
    stem, _, ext = name.partition(".")
    if ext not in CHART_TYPES or stem not in ("trend", "agencies", "reasons"):
        return Response(b"no such chart", status_code=404, media_type="text/plain")
    locale = request_locale(request)
    translations = ctx.catalogs.get(locale)
    figure = None
    if stem == "trend":
        national = await data.national_trend()
        own = await data.national_trend(agency) if agency else None
        names = {a["code"]: a["name"] for a in await data.agency_names(locale)}
        if national is not None:
            figure = charts.trend_chart(
                own or national,
                locale=locale,
                translations=translations,
                target=0.95,
                title=names.get(agency) if agency else None,
                comparison=national if own else None,
                comparison_label=translations.gettext("National") if own else None,
            )
    elif stem == "agencies":
        comparison = await data.comparison()
        if comparison is not None:
            names = {a["code"]: a["name"] for a in await data.agency_names(locale)}
            figure = charts.forest_chart(
                comparison, locale=locale, translations=translations, labels=names, target=0.95
            )
    else:
        breakdown = await data.reasons()
        if breakdown is not None and agency in set(breakdown.cells["group"]):
            figure = charts.reason_chart(
                breakdown,
                group=agency,
                locale=locale,
                translations=translations,
                labels=_reason_labels(ctx, locale),
            )
    if figure is None:
        return Response(b"no data", status_code=404, media_type="text/plain")
    return Response(
        charts.render(figure, ext),
        media_type=CHART_TYPES[ext],
        headers={"Cache-Control": "private, max-age=300"},
    )


ROUTES = [login_form, login, logout, dashboard, chart]
