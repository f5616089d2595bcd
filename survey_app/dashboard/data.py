"""What the dashboard shows, computed once per request from count tables.

Every result passes through ``analysis.suppress``, as in the statistics API: the
dashboard and its charts show nothing an analyst could not download.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from piccolo.query.functions.aggregate import Sum

import analysis
from analysis import MIN_PUBLISHED
from analysis.reasons import ReasonBreakdown
from analysis.satisfaction import SatisfactionComparison
from analysis.trend import TrendResult
from survey_app.db.tables import Agency, MonthlyInvitation, MonthlyRating
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import Filters
from survey_app.statistics.league import Standings, standings

PERIOD = "month"


@dataclass(frozen=True)
class AgencyView:
    code: str
    name: str
    responses: int
    invitations: int
    trend: TrendResult | None
    reasons: ReasonBreakdown | None
    weighted: dict | None = None

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


async def comparison() -> SatisfactionComparison | None:
    table = counts.satisfaction_table(await counts.rating_counts(Filters(), "agency"))
    if table.empty or table["total"].sum() == 0:
        return None
    result = analysis.suppress(analysis.compare_satisfaction(table))
    return result if result.overall.total else None


async def league() -> Standings | None:
    """The fair league table of agencies, when at least two are published."""
    table = counts.satisfaction_table(await counts.rating_counts(Filters(), "agency"))
    if int((~analysis.withheld(table["total"]) & (table["total"] > 0)).sum()) < 2:
        return None
    return standings(table)


async def weighted(agency: str, published: bool) -> dict | None:
    """The agency's CSAT weighted back to its invitations, when its figures are published."""
    if not published:
        return None
    frame = await nonresponse.frame_table(Filters(agency=agency), "agency")
    if frame is None or frame["total"].sum() < MIN_PUBLISHED:
        return None
    result = analysis.poststratify(frame, min_stratum=MIN_PUBLISHED)
    return result.groups.iloc[0].to_dict()


async def monthly_trend(agency: str | None = None) -> TrendResult | None:
    """Satisfaction month by month: of one agency, or of the whole country."""
    daily = await counts.daily_rating_counts(Filters(agency=agency), PERIOD)
    table = counts.period_table(daily, PERIOD)
    if table.empty or table["total"].sum() == 0:
        return None
    result = analysis.suppress(analysis.trend(table))
    return result if len(result.table) else None


async def reasons() -> ReasonBreakdown | None:
    table, people = await counts.reason_counts(Filters(), "agency")
    if table.empty:
        return None
    result = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
    return result if len(result.table) else None


async def overview(locale: str, selected_code: str | None) -> Overview:
    agencies = await agency_names(locale)
    selected = None
    chosen = next((a for a in agencies if a["code"] == selected_code), None)
    comparing = await comparison()
    if chosen is not None:
        trend = await monthly_trend(chosen["code"])
        selected = AgencyView(
            code=chosen["code"],
            name=chosen["name"],
            responses=await _total(MonthlyRating, MonthlyRating.responses, chosen["id"]),
            invitations=await _total(
                MonthlyInvitation, MonthlyInvitation.invitations, chosen["id"]
            ),
            trend=trend,
            reasons=await reasons(),
            weighted=await weighted(chosen["code"], _published(comparing, chosen["code"])),
        )
    return Overview(
        comparison=comparing,
        national=await monthly_trend(),
        agencies=agencies,
        selected=selected,
        league=await league(),
    )


async def _total(table: Any, column: Any, agency_id: int) -> int:
    """An agency's rated responses or invitations, from the monthly cells."""
    row = await table.select(Sum(column, alias="n")).where(table.agency == agency_id).first()
    return int(row["n"] or 0) if row else 0


def _published(comparing: SatisfactionComparison | None, agency: str) -> bool:
    if comparing is None:
        return False
    rows = comparing.groups[comparing.groups["group"] == agency]
    return bool(len(rows)) and not bool(rows["suppressed"].iloc[0])


def gap_reasons(breakdown: ReasonBreakdown, agency: str) -> pd.DataFrame:
    """The agency's reasons, most over-represented first (those that drive its gap)."""
    cells = breakdown.cells[
        (breakdown.cells["group"] == agency) & ~breakdown.cells["suppressed"].eq(True)
    ]
    return cells.sort_values("adjusted_residual", ascending=False, na_position="last")
