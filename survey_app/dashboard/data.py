"""What the dashboard shows, computed once per request from count tables."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import analysis
from analysis.reasons import ReasonBreakdown
from analysis.satisfaction import SatisfactionComparison
from analysis.trend import TrendResult
from survey_app.db.tables import Agency, Invitation, Response
from survey_app.statistics import counts
from survey_app.statistics.filters import Filters

PERIOD = "month"


@dataclass(frozen=True)
class AgencyView:
    code: str
    name: str
    responses: int
    invitations: int
    trend: TrendResult | None
    reasons: ReasonBreakdown | None

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.invitations if self.invitations else None


@dataclass(frozen=True)
class Overview:
    comparison: SatisfactionComparison | None
    national: TrendResult | None
    agencies: list[dict]
    selected: AgencyView | None


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


async def comparison() -> SatisfactionComparison | None:
    table = counts.satisfaction_table(await counts.rating_counts(Filters(), "agency"))
    if table.empty or table["total"].sum() == 0:
        return None
    return analysis.compare_satisfaction(table)


async def monthly_trend(agency: str | None = None) -> TrendResult | None:
    """Satisfaction month by month: of one agency, or of the whole country."""
    daily = await counts.daily_rating_counts(Filters(agency=agency), PERIOD)
    table = counts.period_table(daily, PERIOD)
    if table.empty or table["total"].sum() == 0:
        return None
    return analysis.trend(table)


async def reasons() -> ReasonBreakdown | None:
    table, people = await counts.reason_counts(Filters(), "agency")
    if table.empty:
        return None
    return analysis.reason_breakdown(table, respondents=people)


async def overview(locale: str, selected_code: str | None) -> Overview:
    agencies = await agency_names(locale)
    selected = None
    chosen = next((a for a in agencies if a["code"] == selected_code), None)
    if chosen is not None:
        selected = AgencyView(
            code=chosen["code"],
            name=chosen["name"],
            responses=await Response.count().where(Response.agency == chosen["id"]),
            invitations=await Invitation.count().where(Invitation.agency == chosen["id"]),
            trend=await monthly_trend(chosen["code"]),
            reasons=await reasons(),
        )
    return Overview(
        comparison=await comparison(),
        national=await monthly_trend(),
        agencies=agencies,
        selected=selected,
    )


def gap_reasons(breakdown: ReasonBreakdown, agency: str) -> pd.DataFrame:
    """The agency's reasons, most over-represented first (those that drive its gap)."""
    cells = breakdown.cells[breakdown.cells["group"] == agency]
    return cells.sort_values("adjusted_residual", ascending=False, na_position="last")
