"""What the dashboard shows, computed once per request from count tables.

Every result passes through ``analysis.suppress``, as in the statistics API: the
dashboard and its charts show nothing an analyst could not download.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

import analysis
from analysis import MIN_PUBLISHED
from analysis.poststrat import MIN_RESPONSE_RATE
from analysis.reasons import ReasonBreakdown
from analysis.satisfaction import SatisfactionComparison
from analysis.trend import TrendResult
from questionnaires import Questionnaire
from survey_app.db.tables import Agency, Service
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import FilterError, Filters
from survey_app.statistics.league import Standings, standings
from survey_app.statistics.questions import OVERALL, Scope

PERIOD = "month"
EVERYTHING = Filters()  # no filter: every response


@dataclass(frozen=True)
class AgencyView:
    code: str
    name: str
    responses: int
    invitations: int
    trend: TrendResult | None
    reasons: ReasonBreakdown | None
    weighted: dict | None = None
    # Its services compared with one another (the drill-down), as table rows.
    services: list[dict] | None = None
    service: str | None = None  # the one service shown, when one is chosen

    @property
    def group(self) -> str:
        """What its reasons are compared by: the service shown, else the agency."""
        return self.service or self.code

    @property
    def published(self) -> bool:
        """Counts and the response rate rest on the invitations: shown from 10 on."""
        return self.invitations >= MIN_PUBLISHED

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.invitations if self.published else None


@dataclass(frozen=True)
class Overview:
    comparison: SatisfactionComparison | None
    national: TrendResult | None
    agencies: list[dict]
    selected: AgencyView | None
    league: Standings | None = None

    def ranked(self) -> list[dict]:
        """Agencies as the dashboard lists them: by shrunken CSAT (best first), each with
        its plain figures and target status; withheld agencies last."""
        if self.comparison is None:
            return []
        plain = self.comparison.groups.set_index("group")
        order = (
            list(self.league.groups["group"])
            if self.league is not None
            else list(plain.sort_values("csat", ascending=False).index)
        )
        fair = self.league.groups.set_index("group") if self.league is not None else None
        rows = []
        for group in order:
            row = {"group": group, **plain.loc[group].to_dict()}
            if fair is not None and not fair.loc[group, "suppressed"]:
                for name in ("shrunken", "rank_low", "rank_high"):
                    row[name] = fair.loc[group, name]
            rows.append(row)
        return rows


async def agency_names(locale: str) -> list[dict]:
    rows = (
        await Agency.select(Agency.id, Agency.code, Agency.name, Agency.names)
        .output(load_json=True)
        .order_by(Agency.code)
    )
    return [
        {"id": r["id"], "code": r["code"], "name": (r["names"] or {}).get(locale) or r["name"]}
        for r in rows
    ]


async def service_names(locale: str, agency: str) -> dict[str, str]:
    """Service code -> its name in ``locale``, for one agency's services."""
    rows = (
        await Service.select(Service.code, Service.name, Service.names)
        .where(Service.agency.code == agency)
        .output(load_json=True)
    )
    return {r["code"]: (r["names"] or {}).get(locale) or r["name"] for r in rows}


def national(filters: Filters) -> Filters:
    """The filters for figures across agencies: every agency, whatever is selected."""
    return replace(filters, agency=None, service=None)


async def ratings(filters: Filters, group_by: str = "agency") -> pd.DataFrame:
    """Satisfied and total per group: what the comparison and the league table both rank."""
    return counts.satisfaction_table(await counts.rating_counts(filters, group_by))


async def comparison(
    filters: Filters = EVERYTHING, group_by: str = "agency", table: pd.DataFrame | None = None
) -> SatisfactionComparison | None:
    """Each group against the rest, with the response and official rates of the published
    groups (``statistics.nonresponse``) in its groups frame; ``table``: the groups'
    ratings when already read."""
    table = await ratings(filters, group_by) if table is None else table
    if table.empty or table["total"].sum() == 0:
        return None
    result = analysis.suppress(analysis.compare_satisfaction(table))
    if not result.overall.total:
        return None
    frame = await nonresponse.frame_table(filters, group_by)
    groups, _, _, _ = nonresponse.with_nonresponse(result.groups, frame, MIN_RESPONSE_RATE)
    return replace(result, groups=groups)


async def league(
    filters: Filters = EVERYTHING, table: pd.DataFrame | None = None
) -> Standings | None:
    """The fair league table of agencies, when at least two are published."""
    table = await ratings(filters) if table is None else table
    if int((~analysis.withheld(table["total"]) & (table["total"] > 0)).sum()) < 2:
        return None
    return standings(table)


async def weighted(filters: Filters, published: bool) -> dict | None:
    """An agency's CSAT weighted back to its invitations, when its figures are published."""
    if not published:
        return None
    frame = await nonresponse.frame_table(filters, "agency")
    if frame is None or frame["total"].sum() < MIN_PUBLISHED:
        return None
    result = analysis.poststratify(frame, min_stratum=MIN_PUBLISHED)
    return result.groups.iloc[0].to_dict()


async def monthly_trend(filters: Filters = EVERYTHING) -> TrendResult | None:
    """Satisfaction month by month of what the filters select (the whole country when
    they name no agency)."""
    daily = await counts.daily_rating_counts(filters, PERIOD, by_agency=False)
    table = counts.period_table(daily, PERIOD)
    if table.empty or table["total"].sum() == 0:
        return None
    result = analysis.suppress(analysis.trend(table))
    return result if len(result.table) else None


async def reasons(
    filters: Filters = EVERYTHING, group_by: str = "agency"
) -> ReasonBreakdown | None:
    table, people = await counts.reason_counts(filters, group_by)
    if table.empty:
        return None
    result = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
    return result if len(result.table) else None


async def overview(
    locale: str, selected_code: str | None, filters: Filters = EVERYTHING
) -> Overview:
    """The dashboard for ``filters``: agencies compared, and the selected one (and its
    chosen service, ``filters.service``) in detail."""
    agencies = await agency_names(locale)
    everyone = national(filters)
    # The comparison and the league table rank the same counts: read them once.
    table = await ratings(everyone)
    comparing = await comparison(everyone, table=table)
    chosen = next((a for a in agencies if a["code"] == selected_code), None)
    selected = None
    if chosen is not None:
        selected = await agency_view(chosen, filters, comparing)
    return Overview(
        comparison=comparing,
        national=await monthly_trend(everyone),
        agencies=agencies,
        selected=selected,
        league=await league(everyone, table),
    )


async def agency_view(
    chosen: dict, filters: Filters, comparing: SatisfactionComparison | None
) -> AgencyView:
    own = replace(filters, agency=chosen["code"])
    frame = await nonresponse.frame_table(own, "agency")
    responses = int(frame["total"].sum()) if frame is not None else 0
    invitations = int(frame["invitations"].sum()) if frame is not None else 0
    services = await comparison(replace(own, service=None), "service")
    return AgencyView(
        code=chosen["code"],
        name=chosen["name"],
        responses=responses,
        invitations=invitations,
        trend=await monthly_trend(own),
        # Its gap against the other agencies, or one service's against every other service.
        reasons=await reasons(national(filters), "service" if filters.service else "agency"),
        weighted=await weighted(own, _published(comparing, chosen["code"])),
        services=_records(services.groups) if services is not None else [],
        service=filters.service,
    )


async def drivers(filters: Filters, questionnaire: Questionnaire, scope: Scope) -> list[dict]:
    """The questionnaire's criteria ranked by key-driver analysis for ``filters`` (rows of
    ``analysis.key_drivers``, published ones only); empty when it has no criteria or the
    filters cannot be answered from the driver cells (days that are not whole months)."""
    criteria = [q.id for q in questionnaire.questions if q.kind == "rating" and q.id != OVERALL]
    if not criteria:
        return []
    try:
        moments = await counts.driver_moments(filters, scope, criteria)
        shares = await counts.rating_shares(filters, scope, [scope.question, *criteria])
    except FilterError:
        return []
    result = analysis.suppress(analysis.key_drivers(moments, scope.question, criteria, shares))
    ranked = result.criteria.sort_values("rank", kind="stable", na_position="last")
    if "suppressed" in ranked:
        ranked = ranked[~ranked["suppressed"].eq(True)]
    return _records(ranked)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if v is None or v != v else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _published(comparing: SatisfactionComparison | None, agency: str) -> bool:
    if comparing is None:
        return False
    rows = comparing.groups[comparing.groups["group"] == agency]
    return bool(len(rows)) and not bool(rows["suppressed"].iloc[0])


def gap_reasons(breakdown: ReasonBreakdown, group: str) -> pd.DataFrame:
    """The reasons of one agency (or service), most over-represented first: those that
    drive its gap."""
    cells = breakdown.cells[
        (breakdown.cells["group"] == group) & ~breakdown.cells["suppressed"].eq(True)
    ]
    return cells.sort_values("adjusted_residual", ascending=False, na_position="last")
