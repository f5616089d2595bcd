"""``/dashboard`` for ministries and researchers, behind a staff login (``/login``),
and the charts it shows (``/charts/...``), open to staff keys too."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
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
from survey_app.dashboard import data, drawing, signals, view
from survey_app.db.replica import reads_from_replica
from survey_app.db.tables import Channel
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.i18n import N_, language_links, request_locale
from survey_app.lib.media import PNG, SVG
from survey_app.lib.settings import local_zone
from survey_app.statistics.offload import STATE, Offload, caller_of
from survey_app.statistics.questions import RATING_KINDS, QuestionError, resolve

CHART_TYPES = {"svg": SVG, "png": PNG}
CHARTS = ("trend", "agencies", "reasons", "funnel", "league")
SIGNALS_SHOWN = 12


Query = Annotated[str | None, QueryParameter()]


async def chosen_view(
    request: Request,
    agency: Query = None,
    service: Query = None,
    last: Query = None,
    date_from: Annotated[str | None, QueryParameter(name="from")] = None,
    date_to: Annotated[str | None, QueryParameter(name="to")] = None,
    questionnaire: Query = None,
    channel: Query = None,
    essential: Query = None,
) -> view.Selection:
    """The view the URL asks for (the ``chosen`` dependency of the page and its charts)."""
    return view.selection(
        dt.datetime.now(local_zone()).date(), request_locale(request), agency=agency,
        service=service, last=last, date_from=date_from, date_to=date_to,
        questionnaire=questionnaire, channel=channel, essential=essential,
    )  # fmt: skip


Chosen = NamedDependency[view.Selection]


@get(
    "/dashboard",
    include_in_schema=False,
    guards=[signed_in(*STAFF_ROLES, what="The dashboard")],
    dependencies={"chosen": Provide(chosen_view)},
    before_request=reads_from_replica,
)
async def dashboard(
    request: Request, ctx: Ctx, principal: PrincipalDep, chosen: Chosen
) -> Template:
    member = principal
    locale = request_locale(request)
    if chosen.agency is None and member.agency_code:
        chosen = chosen.showing(member.agency_code)
    overview = await data.overview(locale, chosen.agency, chosen.detail)
    if overview.selected is None and overview.agencies and not chosen.agency:
        first = overview.agencies[0]["code"]
        chosen = chosen.showing(first)
        overview = await data.overview(locale, first, chosen.detail)
    gap = (
        data.gap_reasons(overview.selected.reasons, overview.selected.group).to_dict("records")
        if overview.selected and overview.selected.reasons
        else []
    )
    found = await signals.signals(chosen.filters, DEFAULT_TARGET)
    criteria, criteria_labels = (
        await _drivers(ctx, chosen, locale) if overview.selected else ([], {})
    )
    return Template(
        template_name="dashboard.html",
        context={
            "locale": locale,
            "member": member,
            "view": overview,
            "gap": gap,
            "reason_labels": _reason_labels(ctx, locale),
            "min_published": MIN_PUBLISHED,
            "target": DEFAULT_TARGET,
            "status_labels": _status_labels(ctx, locale),
            "languages": language_links(request.url.path),
            "chosen": chosen,
            "query": chosen.query(),
            "signals": found[:SIGNALS_SHOWN],
            "signals_more": max(0, len(found) - SIGNALS_SHOWN),
            "names": {a["code"]: a["name"] for a in overview.agencies},
            "questionnaires": sorted(ctx.questionnaires),
            "channels": [c.value for c in Channel],
            "last_months": view.LAST_MONTHS,
            "criteria": criteria,
            "service_names": (
                await data.service_names(locale, overview.selected.code)
                if overview.selected
                else {}
            ),
            "criteria_labels": criteria_labels,
        },
    )


async def _drivers(
    ctx: AppContext, chosen: view.Selection, locale: str
) -> tuple[list[dict], dict[str, str]]:
    """With a multi-criteria questionnaire chosen: its criteria ranked for the agency."""
    qid = chosen.filters.questionnaire
    asked = ctx.questionnaire(qid) if qid else None
    if asked is None:
        return [], {}
    try:
        scope = resolve(ctx.questionnaires, ctx.default_questionnaire, qid, None, RATING_KINDS)
    except QuestionError:
        return [], {}
    rows = await data.drivers(chosen.detail, asked, scope)
    labels = {q.id: ctx.catalogs.gettext(locale, q.text) for q in asked.questions}
    return rows, labels


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
    dependencies={"chosen": Provide(chosen_view)},
    before_request=reads_from_replica,
)
async def chart(request: Request, ctx: Ctx, name: FromPath[str], chosen: Chosen) -> Response[bytes]:
    """``/charts/trend.svg``, ``/charts/agencies.png``, ``/charts/reasons.svg?agency=MIC``,
    ``/charts/funnel.svg``, ``/charts/league.svg``, with the dashboard's filters.

    Like the statistics API they draw: a staff session or a staff key (401 without, 403 for
    a portal key or another role). With nothing published to draw, the chart says so
    (200), so a page never shows a broken image.
    """
    stem, _, ext = name.partition(".")
    if ext not in CHART_TYPES or stem not in CHARTS:
        return Response(b"no such chart", status_code=404, media_type="text/plain")
    locale = request_locale(request)
    inputs = await _chart_inputs(ctx, stem, locale, chosen)
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
    ctx: AppContext, stem: str, locale: str, chosen: view.Selection
) -> dict[str, Any] | None:
    """What chart ``stem`` draws, read and analysed here; None when there is nothing to draw."""
    everyone = data.national(chosen.filters)
    agency = chosen.agency
    if stem == "trend":
        national = await data.monthly_trend(everyone)
        own = await data.monthly_trend(chosen.detail) if agency else None
        names = await _names(locale)
        # An agency with nothing published gets no chart, not the national one under its name.
        if national is None or (own is None and agency):
            return None
        title = names.get(agency) if agency else None
        if title and chosen.service:
            title = f"{title} · {chosen.service}"
        return {"own": own, "national": national, "title": title}
    if stem in ("funnel", "league"):
        league = await data.league(everyone)
        if league is None:
            return None
        return {"league": league, "names": await _names(locale)}
    if stem == "agencies":
        comparison = await data.comparison(everyone)
        if comparison is None:
            return None
        return {"comparison": comparison, "names": await _names(locale)}
    # One service's reasons against every other service's, else the agency's.
    group = chosen.service or agency
    breakdown = await data.reasons(everyone, "service" if chosen.service else "agency")
    if breakdown is None or group not in set(data.gap_reasons(breakdown, group)["group"]):
        return None
    return {"breakdown": breakdown, "agency": group, "labels": _reason_labels(ctx, locale)}


async def _names(locale: str) -> dict[str, str]:
    return {a["code"]: a["name"] for a in await data.agency_names(locale)}


ROUTES = [dashboard, chart]
