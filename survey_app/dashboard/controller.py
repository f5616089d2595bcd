"""``/dashboard`` for ministries and researchers, behind a staff login (``/login``),
and the charts it shows (``/charts/...``), open to staff keys too."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from analysis import DEFAULT_TARGET, MIN_PUBLISHED
from analysis.satisfaction import BELOW, INCONCLUSIVE, MEETS
from survey_app.auth.guards import (
    PRINCIPAL,
    STAFF_ROLES,
    PrincipalDep,
    signed_in,
    staff_or_key,
)
from survey_app.dashboard import data, drawing
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.i18n import N_, language_links, request_locale
from survey_app.lib.media import PNG, SVG
from survey_app.statistics.offload import STATE, Offload, caller_of

CHART_TYPES = {"svg": SVG, "png": PNG}
CHARTS = ("trend", "agencies", "reasons", "funnel", "league")


@get(
    "/dashboard",
    include_in_schema=False,
    guards=[signed_in(*STAFF_ROLES, what="The dashboard")],
)
async def dashboard(
    request: Request, ctx: Ctx, principal: PrincipalDep, agency: FromQuery[str | None] = None
) -> Template:
    member = principal
    locale = request_locale(request)
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
            "min_published": MIN_PUBLISHED,
            "target": DEFAULT_TARGET,
            "status_labels": _status_labels(ctx, locale),
            "languages": language_links(request.url.path),
            "query": f"lang={locale}",
        },
    )


def _status_labels(ctx: AppContext, locale: str) -> dict[str, str]:
    """How a target status reads (``analysis`` names them in English)."""
    words = {MEETS: N_("meets"), BELOW: N_("below"), INCONCLUSIVE: N_("not yet clear")}
    return {status: ctx.catalogs.gettext(locale, text) for status, text in words.items()}


def _reason_labels(ctx: AppContext, locale: str) -> dict[str, str]:
    questionnaire = ctx.questionnaire(ctx.default_questionnaire)
    assert questionnaire is not None
    return {
        o.value: ctx.catalogs.gettext(locale, o.label)
        for o in questionnaire.question("reasons").options
    }


@get(
    "/charts/{name:str}",
    include_in_schema=False,
    guards=[staff_or_key(*STAFF_ROLES, what="Charts")],
)
async def chart(
    request: Request,
    ctx: Ctx,
    name: FromPath[str],
    agency: FromQuery[str | None] = None,
) -> Response[bytes]:
    """``/charts/trend.svg``, ``/charts/agencies.png``, ``/charts/reasons.svg?agency=MIC``,
    ``/charts/funnel.svg``, ``/charts/league.svg``.

    Like the statistics API they draw: a staff session or a staff key (401 without, 403 for
    a portal key or another role).
    """
    stem, _, ext = name.partition(".")
    if ext not in CHART_TYPES or stem not in CHARTS:
        return Response(b"no such chart", status_code=404, media_type="text/plain")
    locale = request_locale(request)
    inputs = await _chart_inputs(ctx, stem, locale, agency)
    if inputs is None:
        return Response(b"no data", status_code=404, media_type="text/plain")
    offload: Offload = request.app.state[STATE]
    caller, _ = caller_of(request.state[PRINCIPAL])
    async with offload.cap.slot(caller):
        body = await offload.workers.run(
            drawing.draw, stem, ext, locale, ctx.settings.locales_dir, inputs
        )
    return Response(
        body,
        media_type=CHART_TYPES[ext],
        headers={"Cache-Control": "private, max-age=300"},
    )


async def _chart_inputs(
    ctx: AppContext, stem: str, locale: str, agency: str | None
) -> dict[str, Any] | None:
    """What chart ``stem`` draws, read and analysed here; None when there is nothing to draw."""
    if stem == "trend":
        national = await data.monthly_trend()
        own = await data.monthly_trend(agency) if agency else None
        names = {a["code"]: a["name"] for a in await data.agency_names(locale)}
        # An agency with nothing published gets no chart, not the national one under its name.
        if national is None or (own is None and agency):
            return None
        return {"own": own, "national": national, "title": names.get(agency) if agency else None}
    if stem in ("funnel", "league"):
        league = await data.league()
        if league is None:
            return None
        return {"league": league, "names": await _names(locale)}
    if stem == "agencies":
        comparison = await data.comparison()
        if comparison is None:
            return None
        return {"comparison": comparison, "names": await _names(locale)}
    breakdown = await data.reasons()
    if breakdown is None or agency not in set(data.gap_reasons(breakdown, agency)["group"]):
        return None
    return {"breakdown": breakdown, "agency": agency, "labels": _reason_labels(ctx, locale)}


async def _names(locale: str) -> dict[str, str]:
    return {a["code"]: a["name"] for a in await data.agency_names(locale)}


ROUTES = [dashboard, chart]
